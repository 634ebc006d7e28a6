"""Metrics of the evaluation harness: PSNR, SSIM, MATLAB imresize, NIQE."""
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import convolve2d

from ssr.eval.metrics import psnr, quantize, rgb_to_y, ssim
from ssr.eval.niqe import niqe
from ssr.eval.resize import imresize, resize_weights

from conftest import textured


def _q(x: torch.Tensor) -> torch.Tensor:
    return quantize(x).float()


def test_identical_images_give_inf_and_one():
    x = textured(40, 48)
    assert psnr(x, x, crop=4) == math.inf
    assert ssim(x, x, crop=4) == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, x, y_channel=False) == pytest.approx(1.0, abs=1e-12)


def test_y_conversion_matches_matlab_rgb2ycbcr():
    white, black = torch.ones(3, 1, 1), torch.zeros(3, 1, 1)
    assert rgb_to_y(white).item() == pytest.approx(235.0)
    assert rgb_to_y(black).item() == pytest.approx(16.0)
    grey = torch.full((3, 1, 1), 100 / 255)
    assert rgb_to_y(grey).item() == pytest.approx(16 + 219 * 100 / 255)
    assert rgb_to_y(grey, round_y=True).item() == round(16 + 219 * 100 / 255)


def test_constant_offset_gives_analytic_psnr():
    hr = _q(0.2 + 0.6 * textured(40, 48))
    sr = hr + 10 / 255
    # Y weights sum to 219: a +10 offset on R, G and B moves Y by 219 * 10 / 255
    assert psnr(sr, hr) == pytest.approx(20 * math.log10(255 / (219 * 10 / 255)), abs=1e-9)
    assert psnr(sr, hr, crop=4, y_channel=False) == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)


def test_inputs_are_quantised_to_8_bits():
    hr = _q(textured(32, 32))
    assert psnr(hr + 0.4 / 255, hr) == math.inf  # rounds back to the same 8-bit image


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Straightforward SSIM with an explicit 2-D window (scipy.signal, valid mode)."""
    ax = np.arange(11) - 5
    g = np.exp(-(ax[:, None] ** 2 + ax[None] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    f = lambda x: convolve2d(x, g, mode="valid")  # noqa: E731 - the window is symmetric
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = f(a), f(b)
    va, vb, cab = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
    m = ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(m.mean())


def test_ssim_matches_an_independent_implementation():
    hr = _q(textured(36, 44, seed=1))
    g = torch.Generator().manual_seed(3)
    sr = _q((hr + 0.08 * torch.randn(hr.shape, generator=g)).clamp(0, 1))
    a, b = quantize(sr), quantize(hr)  # exact k / 255 in float64
    ya = (16 + 65.481 * a[0] + 128.553 * a[1] + 24.966 * a[2]).numpy()
    yb = (16 + 65.481 * b[0] + 128.553 * b[1] + 24.966 * b[2]).numpy()
    ref = _ssim_reference(ya[3:-3, 3:-3], yb[3:-3, 3:-3])
    assert ssim(sr, hr, crop=3) == pytest.approx(ref, abs=1e-10)
    rgb = np.mean([_ssim_reference(a[c].numpy() * 255, b[c].numpy() * 255) for c in range(3)])
    assert ssim(sr, hr, y_channel=False) == pytest.approx(rgb, abs=1e-10)
    assert 0.0 < ssim(sr, hr) < 1.0


def test_metrics_reject_mismatched_sizes():
    with pytest.raises(ValueError, match="sizes differ"):
        psnr(textured(32, 32), textured(32, 36))


# ----------------------------------------------------------------------------- MATLAB imresize

def test_imresize_keeps_constant_images_constant():
    x = torch.full((3, 13, 9), 0.37, dtype=torch.float64)
    for kw in ({"scale": 4}, {"scale": 0.5}, {"scale": 0.3}, {"size": (7, 20)}):
        y = imresize(x, **kw)
        assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-12), kw
    assert imresize(x, scale=0.5).shape == (3, 7, 5)  # ceil, as MATLAB


def test_imresize_half_of_8x8_matches_hand_computed_values():
    # MATLAB formula, scale 0.5 with antialiasing: kernel 0.5 * cubic(0.5 t), 8 taps centred at
    # u = 2x - 0.5, symmetric reflection. For the ramp v = 1..8 this gives, by hand:
    a = torch.tensor([1.44921875, 3.48828125, 5.51171875, 7.55078125], dtype=torch.float64)
    v = torch.arange(1, 9, dtype=torch.float64)
    x = v[:, None] + 10 * v[None, :]  # linear: rows and columns resize independently
    y = imresize(x, scale=0.5)
    assert torch.allclose(y, a[:, None] + 10 * a[None, :], atol=1e-12)
    w, idx = resize_weights(8, 4, 0.5)
    assert torch.allclose(w[0], torch.tensor([-0.01171875, -0.03515625, 0.11328125, 0.43359375,
                                              0.43359375, 0.11328125, -0.03515625, -0.01171875],
                                             dtype=torch.float64))
    assert idx[0].tolist() == [2, 1, 0, 0, 1, 2, 3, 4]


def test_imresize_upscaling_matches_pil_bicubic_inside():
    # PIL's BICUBIC is the same Keys a = -0.5 kernel; only the border handling differs.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 20, generator=g, dtype=torch.float64)
    ours = imresize(x, scale=3)
    pil = Image.fromarray(x.numpy().astype(np.float32), "F").resize((60, 48), Image.BICUBIC)
    ref = torch.from_numpy(np.asarray(pil, dtype=np.float64))
    assert torch.allclose(ours[6:-6, 6:-6], ref[6:-6, 6:-6], atol=1e-5)


# ----------------------------------------------------------------------------- NIQE

def test_niqe_is_finite_and_rejects_tiny_images():
    x = textured(200, 200, seed=2)
    score = niqe(x)
    assert math.isfinite(score) and score > 0
    assert niqe(x) == score  # deterministic
    with pytest.raises(ValueError, match="96x96"):
        niqe(textured(64, 64))


def test_niqe_of_baboon_matches_matlab(datasets):
    from ssr.io import load_rgb

    score = niqe(load_rgb(datasets / "eval" / "Set14" / "baboon.png"))
    assert score == pytest.approx(5.7296, abs=0.02)
