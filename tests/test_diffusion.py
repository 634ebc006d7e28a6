"""The diffusion sampler (schedulers, determinism, tiling, colour correction), the pipeline with
its diffusion stage, ``ssr upscale`` with diffusion, and the latent (Stable-Diffusion-style) mode."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
import torch.nn.functional as F
from torch import nn

from ssr.cli import main
from ssr.diffusion import SCHEDULERS, DiffusionSampler, color_fix, positional_noise
from ssr.errors import SSRError
from ssr.io import read_image, write_image
from ssr.models.denoiser import SSRDiffusion
from ssr.pipeline import SSRPipeline
from ssr.tiling import tile_starts

from conftest import textured
from tiny import tiny_pipeline


def tiny_diffusion(scale: int = 4, kernel_channels: int = 3, seed: int = 0, **kw) -> SSRDiffusion:
    """A tiny pixel-mode diffusion stage with random (non-zero) injections, so AMF acts."""
    torch.manual_seed(seed)
    kw.setdefault("unet", {"block_out_channels": [16, 32], "norm_num_groups": 8})
    kw.setdefault("amf", {"widths": [16, 32], "aux_widths": [8, 8], "hidden": 16})
    model = SSRDiffusion(scale=scale, kernel_channels=kernel_channels, **kw)
    for conv in [*model.amf.inject, model.amf.inject_mid]:
        nn.init.normal_(conv.weight, std=0.05)
    return model.eval()


def inputs(h: int = 12, w: int = 16, scale: int = 4, n: int = 3, seed: int = 0):
    hr = textured(h * scale, w * scale, seed=seed)[None]
    lr = F.interpolate(hr, scale_factor=1 / scale, mode="area")
    sr = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
    codes = 0.3 * torch.randn(1, n, h, w, generator=torch.Generator().manual_seed(seed))
    depth = torch.linspace(0, 1, h * scale)[None, None, :, None].expand(1, 1, h * scale, w * scale)
    return lr, sr, codes, depth


def tiny_sd_base(folder: Path) -> Path:
    """A tiny randomly initialised Stable-Diffusion-style base (unet/, vae/, scheduler/) as
    diffusers saves it; nothing is downloaded."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(16, 32),
                         cross_attention_dim=16, norm_num_groups=8, attention_head_dim=4).save_pretrained(folder / "unet")
    AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
                  norm_num_groups=4, layers_per_block=1).save_pretrained(folder / "vae")
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).save_pretrained(folder / "scheduler")
    return folder


@pytest.fixture
def diff_pipe_dir(tmp_path):
    """A tiny pipeline folder with SVKR and diffusion weights."""
    folder = tiny_pipeline(tmp_path / "pipe")
    pipe = SSRPipeline.from_pretrained(folder, device="cpu")
    pipe.set_diffusion(tiny_diffusion())
    pipe.save_pretrained(folder)
    return folder


def test_sampling_is_deterministic_for_a_seed_and_differs_across_seeds():
    sampler = DiffusionSampler(tiny_diffusion())
    lr, sr, codes, depth = inputs()
    a = sampler(lr, sr, codes, depth, steps=3, seed=1)
    assert a.shape == sr.shape and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, sampler(lr, sr, codes, depth, steps=3, seed=1))
    b = sampler(lr, sr, codes, depth, steps=3, seed=2)
    assert (a - b).abs().mean() > 1e-3
    # the residual is what the diffusion adds; strength scales it, 0 gives SR_T back
    assert torch.allclose(sampler(lr, sr, codes, depth, steps=3, seed=1, strength=0.0), sr)
    for name in ("euler-a", "ddpm"):  # stochastic solvers are seeded too
        assert torch.equal(sampler(lr, sr, codes, depth, steps=2, seed=5, scheduler=name),
                           sampler(lr, sr, codes, depth, steps=2, seed=5, scheduler=name))


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_denoiser_calls_equal_the_steps(name):
    model = tiny_diffusion()
    sampler = DiffusionSampler(model)
    lr, sr, codes, depth = inputs(8, 8)
    calls = []
    orig = model.denoise
    model.denoise = lambda *a, **k: calls.append(1) or orig(*a, **k)
    for steps in (1, 4):
        calls.clear()
        sampler(lr, sr, codes, depth, steps=steps, seed=0, scheduler=name)
        want = 2 * steps - 1 if name == "heun" else steps  # Heun is second order
        assert len(calls) == sampler.calls == want


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_an_oracle_denoiser_recovers_its_sample_with_every_scheduler(name):
    """The loop (noise scaling, model-input scaling, trailing time steps, prediction type) is
    right if a denoiser that knows x_0 leads every solver to x_0, whatever the step count."""
    from diffusers import DDPMScheduler

    model = tiny_diffusion(scale=2)
    abar = DDPMScheduler.from_config(model.config["schedule"]).alphas_cumprod
    target = 0.5 * torch.randn(1, 12, 8, 8, generator=torch.Generator().manual_seed(0))

    def oracle(x, t, cond):  # exact v for x_t (the variance-preserving input the model sees)
        ab = abar[int(round(float(t)))]
        a, s = ab.sqrt(), (1 - ab).sqrt()
        return a * (x - a * target) / s - s * target

    model.denoise = oracle
    lr, sr, codes, depth = inputs(8, 8, scale=2)
    want = (sr + 0.1 * F.pixel_shuffle(target, 2)).clamp(0, 1)
    for steps in (2, 10):
        out = DiffusionSampler(model)(lr, sr, codes, depth, steps=steps, seed=3, scheduler=name, color_fix="none")
        assert (out - want).abs().max() < 1e-4


def test_colour_correction_moves_channel_means_to_the_reference():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 3, 48, 40, generator=g)
    img = (ref * 0.5 + torch.tensor([0.3, -0.1, 0.2]).view(1, 3, 1, 1) + 0.05 * torch.randn(2, 3, 48, 40, generator=g))
    mean = lambda x: x.mean((-2, -1))  # noqa: E731
    assert (mean(img) - mean(ref)).abs().max() > 0.09
    adain = color_fix(img, ref, "adain")
    assert torch.allclose(mean(adain), mean(ref), atol=1e-5)
    assert torch.allclose(adain.std((-2, -1)), ref.std((-2, -1)), atol=1e-4)
    wave = color_fix(img, ref, "wavelet")
    assert (mean(wave) - mean(ref)).abs().max() < 0.01
    # the high frequencies stay the image's own
    hp = lambda x: x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)  # noqa: E731
    assert (hp(wave) - hp(img)).abs().mean() < 0.5 * (hp(ref) - hp(img)).abs().mean()
    assert torch.equal(color_fix(img, ref, "none"), img)
    with pytest.raises(SSRError):
        color_fix(img, ref, "sepia")


def test_positional_noise_is_the_same_in_any_tiling():
    full = positional_noise(5, 0, 0, 70, 45, seed=3)
    assert torch.equal(positional_noise(5, 17, 9, 30, 20, seed=3), full[:, 17:47, 9:29])
    assert not torch.equal(positional_noise(5, 0, 0, 70, 45, seed=4), full)
    assert abs(float(full.mean())) < 0.05 and abs(float(full.std()) - 1) < 0.05


def test_tiled_and_untiled_sampling_agree_closely():
    sampler = DiffusionSampler(tiny_diffusion())
    lr, sr, codes, depth = inputs(48, 56)
    whole = sampler(lr, sr, codes, depth, steps=3, seed=7)
    tiled = sampler(lr, sr, codes, depth, steps=3, seed=7, tile=32, tile_overlap=16)
    assert sampler.calls == 3 * len(tile_starts(48, 32, 16)) * len(tile_starts(56, 32, 16))  # 3 steps per tile
    residual = (whole - sr).abs().mean()
    assert residual > 0.01
    assert (tiled - whole).abs().mean() < 0.05 * residual
    # odd sizes are padded to the size multiple and cropped back
    lr, sr, codes, depth = inputs(13, 11)
    assert sampler(lr, sr, codes, depth, steps=2, tile=8, tile_overlap=4).shape == (1, 3, 52, 44)


def test_bad_arguments_raise_clear_errors():
    sampler = DiffusionSampler(tiny_diffusion())
    lr, sr, codes, depth = inputs(8, 8)
    for kw in ({"scheduler": "nope"}, {"steps": 0}, {"color_fix": "sepia"}):
        with pytest.raises(SSRError):
            sampler(lr, sr, codes, depth, **kw)
    with pytest.raises(SSRError):
        sampler(lr, sr[..., :-4, :], codes, depth)


def test_pipeline_with_diffusion_round_trips_and_upscales(diff_pipe_dir, tmp_path):
    pipe = SSRPipeline.from_pretrained(diff_pipe_dir, device="cpu")
    assert pipe.has_diffusion
    x = textured(20, 24)
    svkr = pipe(x, diffusion=False).image
    out = pipe(x, steps=2, seed=1, return_maps=True)  # diffusion by default when present
    assert out.image.shape == (1, 3, 80, 96) and out.depth.shape == (1, 1, 80, 96)
    assert (out.image - svkr).abs().mean() > 1e-3
    assert torch.equal(pipe(x, diffusion=True, steps=2, seed=1).image, out.image)
    assert not torch.equal(pipe(x, steps=2, seed=2).image, out.image)
    assert pipe(x, steps=2, scale=2).image.shape == (1, 3, 40, 48)
    tiled = pipe(x, steps=2, seed=1, tile=16, tile_overlap=8).image
    assert (tiled - out.image).abs().mean() < 0.02
    pipe.save_pretrained(tmp_path / "copy")
    again = SSRPipeline.from_pretrained(tmp_path / "copy", device="cpu")
    assert torch.equal(again(x, steps=2, seed=1).image, out.image)
    assert not SSRPipeline.from_pretrained(tmp_path / "copy", device="cpu", load_diffusion=False).has_diffusion


def test_diffusion_without_weights_is_a_clear_error(tmp_path):
    pipe = SSRPipeline.from_pretrained(tiny_pipeline(tmp_path / "p"), device="cpu")
    assert not pipe.has_diffusion
    assert pipe(textured(8, 8)).image.shape == (1, 3, 32, 32)  # SVKR alone by default
    with pytest.raises(SSRError, match="no diffusion weights"):
        pipe(textured(8, 8), diffusion=True)
    with pytest.raises(SSRError):
        pipe.set_diffusion(tiny_diffusion(kernel_channels=5))  # does not fit the SVKR models
    with pytest.raises(SSRError):
        SSRPipeline.from_pretrained(tmp_path / "p", device="cpu", base=tmp_path)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_upscale_cli_with_diffusion(diff_pipe_dir, tmp_path, capsys):
    src = tmp_path / "in.png"
    write_image(src, textured(16, 20))
    code, out, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "a.png"), "--weights",
                             str(diff_pipe_dir), "--steps", "2", "--seed", "1")
    assert code == 0, err
    assert "diffusion" in out and read_image(tmp_path / "a.png").size == (64, 80)
    a = read_image(tmp_path / "a.png").rgb
    code, _, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "b.png"), "--weights",
                           str(diff_pipe_dir), "--steps", "2", "--seed", "1", "--tile", "8", "--tile-overlap", "4")
    assert code == 0, err
    code, out, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "c.png"), "--weights",
                             str(diff_pipe_dir), "--no-diffusion")
    assert code == 0, err and "mode: SVKR" in out
    c = read_image(tmp_path / "c.png").rgb
    assert (a - c).abs().mean() > 1e-3
    code, _, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "d.png"), "--weights",
                           str(diff_pipe_dir), "--steps", "2", "--seed", "1", "--scheduler", "ddim",
                           "--color-fix", "adain", "--strength", "0.5")
    assert code == 0, err
    for bad in (["--steps", "0"], ["--base", str(tmp_path)]):
        code, _, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "e.png"), "--weights",
                               str(diff_pipe_dir), *bad)
        assert code == 2 and err.startswith("error: ") and not (tmp_path / "e.png").exists()


def test_latent_mode_loads_a_tiny_sd_base_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = tiny_sd_base(tmp_path / "base")
    model = SSRDiffusion.for_base(base, scale=4, kernel_channels=3,
                                  amf={"widths": [8, 16], "aux_widths": [4, 4], "hidden": 8})
    assert model.mode == "latent" and model.has_base and model.hr_per_work == 2 and model.size_multiple == 1
    assert model.config["schedule"]["beta_schedule"] == "scaled_linear"
    assert not any(k.startswith(("unet.", "vae.")) for k in model.state_dict())  # the base is not ours to save
    for conv in model.amf.inject:
        nn.init.normal_(conv.weight, std=0.05)
    sampler = DiffusionSampler(model)
    lr, sr, codes, depth = inputs(6, 10)
    out = sampler(lr, sr, codes, depth, steps=2, seed=1)
    assert out.shape == sr.shape and sampler.calls == 2
    assert torch.equal(out, sampler(lr, sr, codes, depth, steps=2, seed=1))
    assert sampler(lr, sr, codes, depth, steps=2, seed=1, tile=4, tile_overlap=2).shape == sr.shape
    # the whole pipeline: the AMF weights in diffusion/, the base copied to diffusion/base
    folder = tiny_pipeline(tmp_path / "pipe")
    pipe = SSRPipeline.from_pretrained(folder, device="cpu")
    pipe.set_diffusion(model)
    pipe.save_pretrained(folder)
    assert (folder / "diffusion" / "base" / "unet" / "config.json").is_file()
    again = SSRPipeline.from_pretrained(folder, device="cpu")
    x = textured(6, 10)
    img = again(x, steps=2, seed=1).image
    assert torch.allclose(img, pipe(x, steps=2, seed=1).image, atol=1e-5)
    assert torch.allclose(SSRPipeline.from_pretrained(folder, device="cpu", base=base)(x, steps=2, seed=1).image, img,
                          atol=1e-5)
    # without its base the latent stage says what to pass
    import shutil

    shutil.rmtree(folder / "diffusion" / "base")
    shutil.rmtree(base)
    with pytest.raises(SSRError, match="--base"):
        SSRPipeline.from_pretrained(folder, device="cpu")
