"""Full-reference metrics with the super-resolution field's conventions: PSNR and SSIM.

Conventions (those of the reference numbers in the literature and in ``docs/benchmarks.md``):

* Inputs are ``3 x H x W`` torch tensors in [0, 1] (a leading batch dimension of 1 is
  accepted). Both images are **quantised to 8 bits** first (``round(255 x) / 255``), as if
  they had been saved as PNG: a method's output is scored as the image a user would get.
* By default the score is measured on the luma channel ``Y`` of BT.601 as MATLAB's
  ``rgb2ycbcr`` computes it, on the 0-255 scale: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B``
  for ``R, G, B`` in [0, 1]. ``Y`` is not rounded (``round_y=True`` gives MATLAB's ``uint8``
  path instead). ``y_channel=False`` measures on the three RGB channels (0-255 scale).
* ``crop`` pixels are removed from each border before measuring (use the SR scale).
* SSIM is Wang et al. (2004): 11 x 11 Gaussian window with sigma 1.5, ``C1 = (0.01 * 255)^2``,
  ``C2 = (0.03 * 255)^2``, "valid" filtering (no padding), the mean of the SSIM map; for RGB the
  mean over the channels.

Computation is in float64 (filtering with scipy).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import correlate1d

__all__ = ["quantize", "rgb_to_y", "prepare", "psnr", "ssim", "gaussian_window"]

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Round an image in [0, 1] to the nearest 8-bit level (result still in [0, 1], float64)."""
    return torch.round(img.detach().to(torch.float64).clamp(0, 1) * 255.0) / 255.0


def rgb_to_y(img: torch.Tensor, round_y: bool = False) -> torch.Tensor:
    """BT.601 luma as MATLAB ``rgb2ycbcr``: ``... x 3 x H x W`` in [0, 1] -> ``... x 1 x H x W``
    on the 0-255 scale (16-235 for in-gamut colours); ``round_y`` rounds to integers."""
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=img.device).view(3, 1, 1)
    y = 16.0 + (img.to(torch.float64) * w).sum(dim=-3, keepdim=True)
    return torch.round(y) if round_y else y


def _as_chw(img: torch.Tensor, name: str) -> torch.Tensor:
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"{name} must be 3 x H x W, got shape {tuple(img.shape)}")
    return img


def prepare(
    img: torch.Tensor, crop: int = 0, y_channel: bool = True, round_y: bool = False
) -> torch.Tensor:
    """Quantise to 8 bits, convert to Y (or keep RGB) on the 0-255 scale and crop the border.

    Args:
        img: ``3 x H x W`` in [0, 1].
    Returns:
        ``C x (H - 2 crop) x (W - 2 crop)`` float64, ``C`` = 1 (Y) or 3 (RGB), values 0-255.
    """
    x = quantize(_as_chw(img, "image"))
    x = rgb_to_y(x, round_y) if y_channel else x * 255.0
    if crop > 0:
        x = x[..., crop:-crop, crop:-crop]
    if x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ValueError(f"image {tuple(img.shape[-2:])} is too small for a {crop}-pixel border crop")
    return x


def _pair(sr: torch.Tensor, hr: torch.Tensor, crop: int, y_channel: bool, round_y: bool):
    sr, hr = _as_chw(sr, "sr"), _as_chw(hr, "hr")
    if sr.shape != hr.shape:
        raise ValueError(f"sizes differ: sr {tuple(sr.shape)} vs hr {tuple(hr.shape)}")
    return prepare(sr, crop, y_channel, round_y), prepare(hr, crop, y_channel, round_y)


def psnr(
    sr: torch.Tensor, hr: torch.Tensor, crop: int = 0, y_channel: bool = True, round_y: bool = False
) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) of ``sr`` against ``hr``.

    Args:
        sr, hr: ``3 x H x W`` in [0, 1] (quantised to 8 bits here).
        crop: border pixels removed on each side (the SR scale by convention).
        y_channel: measure on MATLAB-style BT.601 ``Y`` (default) or on RGB.
        round_y: round ``Y`` to integers (MATLAB ``uint8`` ``rgb2ycbcr``).
    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    a, b = _pair(sr, hr, crop, y_channel, round_y)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian taps (float64); the 2-D window is their outer product."""
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(ax**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of every plane of ``N x H x W`` with the window ``taps x taps``
    (scipy in float64: several times faster than a float64 ``conv2d`` on CPU)."""
    k = taps.numel()
    r = k // 2
    t = taps.numpy()
    y = correlate1d(x.cpu().numpy(), t, axis=-2, mode="constant")
    y = correlate1d(y, t, axis=-1, mode="constant")
    return torch.from_numpy(np.ascontiguousarray(y[..., r:y.shape[-2] - r, r:y.shape[-1] - r]))


def ssim(
    sr: torch.Tensor, hr: torch.Tensor, crop: int = 0, y_channel: bool = True, round_y: bool = False
) -> float:
    """Structural similarity (Wang et al. 2004) of ``sr`` against ``hr``.

    Arguments as :func:`psnr`. Gaussian window 11 x 11, sigma 1.5, valid filtering,
    ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``; mean of the map (over channels for RGB).
    Returns a value in [-1, 1]; 1.0 for identical images.
    """
    a, b = _pair(sr, hr, crop, y_channel, round_y)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs at least 11 x 11 pixels after cropping, got {tuple(a.shape[-2:])}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    c = a.shape[0]
    stats = _filter_valid(torch.cat([a, b, a * a, b * b, a * b]), gaussian_window(11, 1.5))
    mu_a, mu_b, e_aa, e_bb, e_ab = stats.split(c)
    s_aa, s_bb, s_ab = e_aa - mu_a**2, e_bb - mu_b**2, e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return float((num / den).mean())
