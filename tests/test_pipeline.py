import pytest
import torch

from ssr.degradation import DegradationConfig, DegradationPipeline, FieldConfig, JpegConfig, NoiseConfig
from ssr.degradation.noise import gaussian_noise, jpeg_compress, poisson_noise

from conftest import textured


@pytest.mark.parametrize("preset", ["noise-jpeg", "no-noise", "no-jpeg", "blur-only"])
def test_same_seed_same_result(preset):
    hr = textured(66, 90)
    pipe = DegradationPipeline(DegradationConfig.preset(preset))
    a, b = pipe(hr, seed=7), pipe(hr, seed=7)
    assert torch.equal(a.lr, b.lr) and torch.equal(a.kernels, b.kernels) and torch.equal(a.depth, b.depth)
    assert a.params == b.params
    c = pipe(hr, seed=8)
    assert not torch.equal(a.lr, c.lr)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_ranges(scale):
    hr = textured(50, 71)
    out = DegradationPipeline(DegradationConfig.preset("noise-jpeg", scale=scale))(hr, seed=0)
    H, W = 50 - 50 % scale, 71 - 71 % scale
    assert out.hr.shape == (1, 3, H, W)
    assert out.lr.shape == (1, 3, H // scale, W // scale)
    assert out.depth.shape == (1, 1, H, W)
    k = 4 * scale + 5
    assert out.kernels.shape == (1, k * k, H // scale, W // scale)
    assert out.lr.min() >= 0 and out.lr.max() <= 1
    assert torch.equal(out.lr, torch.round(out.lr * 255) / 255)  # 8-bit like a saved file


def test_presets_select_operations():
    hr = textured(64, 64)
    p = DegradationPipeline(DegradationConfig.preset("no-noise"))(hr, seed=1).params[0]
    assert "noise" not in p and "jpeg_quality" in p
    p = DegradationPipeline(DegradationConfig.preset("no-jpeg"))(hr, seed=1).params[0]
    assert "noise" in p and "jpeg_quality" not in p
    p = DegradationPipeline(DegradationConfig.preset("blur-only"))(hr, seed=1).params[0]
    assert "noise" not in p and "jpeg_quality" not in p
    with pytest.raises(ValueError, match="unknown preset"):
        DegradationConfig.preset("bogus")


def test_blur_only_lr_is_the_field_applied():
    from ssr.degradation import apply_kernel_field

    hr = textured(64, 64)
    cfg = DegradationConfig.preset("blur-only")
    cfg.quantize = False
    out = DegradationPipeline(cfg)(hr, seed=2)
    assert torch.allclose(out.lr, apply_kernel_field(out.hr, out.kernels, 4).clamp(0, 1), atol=1e-6)


def test_given_depth_is_used_and_resized():
    hr = textured(64, 64)
    depth = torch.linspace(0, 1, 32).view(1, 32).expand(16, 32)  # another size, H x W
    out = DegradationPipeline(DegradationConfig.preset("blur-only"))(hr, seed=3, depth=depth)
    assert out.params[0]["depth"] == "given"
    assert out.depth.shape == (1, 1, 64, 64)
    assert torch.all(torch.diff(out.depth[0, 0, 10]) >= -1e-6)
    with pytest.raises(ValueError, match="depth batch"):
        DegradationPipeline()(torch.stack([hr, hr]), seed=0, depth=torch.rand(3, 1, 64, 64))


def test_batch_draws_independent_parameters():
    hr = torch.stack([textured(48, 48, seed=i) for i in range(3)])
    out = DegradationPipeline()(hr, seed=4)
    assert out.lr.shape == (3, 3, 12, 12)
    assert len({round(p["focus"], 6) for p in out.params}) == 3


def test_config_roundtrip_and_overrides():
    cfg = DegradationConfig.preset("no-jpeg", scale=2, field=FieldConfig(kind="smooth"))
    back = DegradationConfig.from_dict(cfg.to_dict())
    assert back == cfg
    d = DegradationConfig.from_dict({"preset": "noise-jpeg", "scale": 3, "order": ["jpeg", "noise"],
                                     "noise": {"sigma_range": [2, 5]}, "field": {"family": "disc"}})
    assert d.order == ("jpeg", "noise") and d.noise.sigma_range == [2, 5] and d.field.family == "disc"
    with pytest.raises(ValueError):
        DegradationConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError):
        DegradationConfig(order=("noise", "sharpen"))


def test_gaussian_noise_channel_correlation(rng):
    x = torch.full((3, 64, 64), 0.5)
    grey = gaussian_noise(x, 0.1, 1.0, rng) - x
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])
    colour = gaussian_noise(x, 0.1, 0.0, rng) - x
    corr = torch.corrcoef(colour.reshape(3, -1))
    assert abs(corr[0, 1].item()) < 0.05
    assert colour.std().item() == pytest.approx(0.1, rel=0.05)
    mid = gaussian_noise(x, 0.1, 0.5, rng) - x
    assert torch.corrcoef(mid.reshape(3, -1))[0, 1].item() == pytest.approx(0.5, abs=0.05)


def test_poisson_noise_is_unbiased_and_scales_with_peak(rng):
    x = torch.full((3, 128, 128), 0.4)
    lo = poisson_noise(x, 50.0, False, rng)
    hi = poisson_noise(x, 5000.0, False, rng)
    assert lo.mean().item() == pytest.approx(0.4, abs=0.01)
    assert (lo - x).std() > 5 * (hi - x).std()
    g = poisson_noise(x, 50.0, True, rng)
    assert torch.allclose(g[0] - x[0], g[2] - x[2])


def test_jpeg_is_real_and_deterministic():
    x = textured(64, 64)
    a, b = jpeg_compress(x, 30), jpeg_compress(x, 30)
    assert torch.equal(a, b)
    err30 = (a - x).abs().mean()
    err90 = (jpeg_compress(x, 90) - x).abs().mean()
    assert err30 > err90 > 0


def test_noise_and_jpeg_configs_apply():
    hr = textured(64, 64)
    cfg = DegradationConfig(noise=NoiseConfig(gaussian_prob=1.0, sigma_range=(10, 10)),
                            jpeg=JpegConfig(quality_range=(50, 50)))
    p = DegradationPipeline(cfg)(hr, seed=0).params[0]
    assert p["noise"] == "gaussian" and p["sigma"] == pytest.approx(10) and p["jpeg_quality"] == 50


def test_precision_choices_and_bf16_agreement(tmp_path):
    """bfloat16 (autocast) changes the result by far less than an 8-bit level; names are checked."""
    from ssr.errors import SSRError
    from ssr.pipeline import PRECISIONS, SSRPipeline, use_bf16

    from conftest import textured
    from tiny import tiny_pipeline

    assert PRECISIONS == ("auto", "fp32", "bf16")
    assert use_bf16("bf16", "cpu") and not use_bf16("fp32", "cpu")
    assert not use_bf16("auto", "cuda")  # float32 on GPUs until bfloat16 is measured there
    with pytest.raises(SSRError, match="precision"):
        use_bf16("fp8", "cpu")
    pipe = SSRPipeline.from_pretrained(tiny_pipeline(tmp_path / "p"), device="cpu")
    x = textured(20, 24)
    a = pipe(x, precision="fp32").image
    b = pipe(x, precision="bf16").image
    assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
    mse = torch.mean((a - b) ** 2).item()
    assert 0 < mse < 10 ** -4.0  # bfloat16 really ran, and agrees to > 40 dB
    assert torch.equal(pipe(x, precision="fp32").image, a)
    with pytest.raises(SSRError, match="precision"):
        pipe(x, precision="half")

