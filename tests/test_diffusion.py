"""The diffusion sampler (schedulers, determinism, tiling, colour correction), the pipeline with
its diffusion stage, ``ssr upscale`` with diffusion, and the latent (Stable-Diffusion-style) mode."""
from __future__ import annotations

import json
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
from ssr.models.amf import AMFFusion
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
    for fusion in model.amf.modules():  # and kernels / depth act on the fused features
        if isinstance(fusion, AMFFusion):
            nn.init.normal_(fusion.gamma[-1].weight, std=0.05)
            nn.init.normal_(fusion.beta[-1].weight, std=0.05)
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
    # one residual serves every strength and colour correction (the sweeps of amf_sensitivity.py)
    res = sampler(lr, sr, codes, depth, steps=3, seed=1, return_residual=True)
    assert res.shape == sr.shape and res.abs().max() > 0
    assert torch.equal(sampler.blend(sr, res), a)
    for kw in ({"strength": 0.3}, {"strength": 0.7, "color_fix": "wavelet"}, {"strength": 1.0, "color_fix": "adain"}):
        assert torch.equal(sampler.blend(sr, res, **kw), sampler(lr, sr, codes, depth, steps=3, seed=1, **kw))
    with pytest.raises(SSRError, match="strength"):
        sampler.blend(sr, res, -1.0)
    for name in ("euler-a", "ddpm", "dpm++-sde"):  # stochastic solvers are seeded too
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
    # starting part-way down the schedule (SDEdit from SR_T) lands there too, in `steps` calls
    calls = []
    model.denoise = lambda x, t, cond: calls.append(int(round(float(t)))) or oracle(x, t, cond)
    sampler = DiffusionSampler(model)
    out = sampler(lr, sr, codes, depth, steps=4, seed=3, scheduler=name, color_fix="none", start=0.4)
    assert (out - want).abs().max() < 1e-4
    assert sampler.calls == (7 if name == "heun" else 4) and max(calls) < 500  # 4 of 10 steps: t <= 400


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
    for kw in ({"scheduler": "nope"}, {"steps": 0}, {"color_fix": "sepia"}, {"start": 0.0}, {"start": 1.5}):
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
    assert code == 0, err
    assert "mode: SVKR" in out
    c = read_image(tmp_path / "c.png").rgb
    assert (a - c).abs().mean() > 1e-3
    code, _, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "d.png"), "--weights",
                           str(diff_pipe_dir), "--steps", "2", "--seed", "1", "--scheduler", "ddim",
                           "--color-fix", "adain", "--strength", "0.5", "--start", "0.5")
    assert code == 0, err
    for bad in (["--steps", "0"], ["--base", str(tmp_path)], ["--strength", "-1"], ["--start", "0"], ["--start", "2"]):
        code, _, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "e.png"), "--weights",
                               str(diff_pipe_dir), *bad)
        assert code == 2 and err.startswith("error: ") and not (tmp_path / "e.png").exists()


def test_upscale_cli_does_not_load_a_diffusion_stage_at_strength_0(diff_pipe_dir, tmp_path, capsys, monkeypatch):
    """The shipped pipeline.json has strength 0: its diffusion stage (and diffusers)
    would never sample, so the CLI does not load it; --strength brings it back."""
    from ssr.models.denoiser import SSRDiffusion

    meta = json.loads((diff_pipe_dir / "pipeline.json").read_text())
    (diff_pipe_dir / "pipeline.json").write_text(json.dumps({**meta, "strength": 0.0}))
    assert SSRPipeline.defaults(diff_pipe_dir)["has_diffusion"]
    src = tmp_path / "in.png"
    write_image(src, textured(16, 20))
    loads = []
    real = SSRDiffusion.from_pretrained
    monkeypatch.setattr(SSRDiffusion, "from_pretrained", lambda *a, **k: loads.append(1) or real(*a, **k))
    code, out, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "a.png"), "--weights", str(diff_pipe_dir))
    assert code == 0, err
    assert "diffusion off: strength 0" in out and not loads
    code, out, err = run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "b.png"), "--weights", str(diff_pipe_dir),
                             "--strength", "0.5", "--steps", "2")
    assert code == 0, err
    assert "SVKR + diffusion" in out and loads == [1]


def test_strength_0_defers_the_diffusion_stage_to_the_first_sampling_call(diff_pipe_dir, tmp_path, monkeypatch):
    """from_pretrained() of a pipeline whose stored strength is 0 (the shipped one) does not read
    its diffusion stage; a call that samples reads it then, and save_pretrained keeps it. The
    result equals an eagerly loaded pipeline's."""
    meta = json.loads((diff_pipe_dir / "pipeline.json").read_text())
    (diff_pipe_dir / "pipeline.json").write_text(json.dumps({**meta, "strength": 0.0}))
    loads = []
    real = SSRDiffusion.from_pretrained
    monkeypatch.setattr(SSRDiffusion, "from_pretrained", lambda *a, **k: loads.append(1) or real(*a, **k))
    x = textured(16, 20)
    lazy = SSRPipeline.from_pretrained(diff_pipe_dir, device="cpu")
    assert lazy.has_diffusion and lazy.diffusion is None and not loads
    plain = lazy(x).image  # strength 0: nothing sampled, nothing read
    assert lazy.diffusion is None and not loads
    eager = SSRPipeline.from_pretrained(diff_pipe_dir, device="cpu", load_diffusion=True)
    assert loads == [1] and torch.equal(eager(x).image, plain)
    want = eager(x, strength=0.5, steps=2, seed=3).image
    got = lazy(x, strength=0.5, steps=2, seed=3).image
    assert loads == [1, 1] and lazy.diffusion is not None and torch.equal(got, want)
    again = SSRPipeline.from_pretrained(
        SSRPipeline.from_pretrained(diff_pipe_dir, device="cpu").save_pretrained(tmp_path / "copy"),
        device="cpu", load_diffusion=True)
    assert again.has_diffusion and torch.equal(again(x, strength=0.5, steps=2, seed=3).image, want)


def test_serve_does_not_load_the_diffusion_stage_at_strength_0(diff_pipe_dir, monkeypatch):
    """`ssr serve` has no strength control: at a stored strength of 0 the served pipeline holds no
    diffusion stage (and serves pictures without one); at another strength it holds it."""
    import ssr.serve

    served = []
    monkeypatch.setattr(ssr.serve, "serve", lambda pipe, *a, **k: served.append(pipe))
    meta = json.loads((diff_pipe_dir / "pipeline.json").read_text())
    for strength, loaded in ((0.0, False), (0.5, True)):
        (diff_pipe_dir / "pipeline.json").write_text(json.dumps({**meta, "strength": strength}))
        assert main(["serve", "--weights", str(diff_pipe_dir), "--device", "cpu", "--port", "0"]) == 0
        assert (served[-1].diffusion is not None) == loaded
    pipe = served[0]
    pipe(textured(12, 12), **ssr.serve.serve_options(pipe, {"seed": 1}))
    assert pipe.diffusion is None


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
    img = again(x, steps=2, seed=1, precision="fp32").image  # float32: a round trip, compared to 1e-5
    assert torch.allclose(img, pipe(x, steps=2, seed=1, precision="fp32").image, atol=1e-5)
    assert torch.allclose(SSRPipeline.from_pretrained(folder, device="cpu", base=base)(x, steps=2, seed=1,
                                                                                       precision="fp32").image,
                          img, atol=1e-5)
    # without its base the latent stage says what to pass
    import shutil

    shutil.rmtree(folder / "diffusion" / "base")
    shutil.rmtree(base)
    with pytest.raises(SSRError, match="--base"):
        SSRPipeline.from_pretrained(folder, device="cpu")


def test_drop_modalities_replaces_per_sample_with_null_values():
    from ssr.models.amf import NULL_DEPTH, drop_modalities

    codes, depth = torch.randn(3, 4, 5, 6), torch.rand(3, 1, 20, 24)
    c, d = drop_modalities(codes, depth, torch.tensor([True, False, False]), torch.tensor([False, False, True]))
    assert torch.equal(c[0], torch.zeros_like(c[0])) and torch.equal(c[1:], codes[1:])
    assert torch.equal(d[2], torch.full_like(d[2], NULL_DEPTH)) and torch.equal(d[:2], depth[:2])
    assert torch.equal(drop_modalities(codes, depth)[0], codes)  # nothing dropped: unchanged
    c, d = drop_modalities(codes, depth, True, True)
    assert float(c.abs().max()) == 0 and torch.equal(d, torch.full_like(depth, NULL_DEPTH))
    assert float(codes.abs().min()) > 0  # inputs are not modified in place
    with pytest.raises(ValueError):
        drop_modalities(codes, depth, torch.tensor([True, False]))


def test_sampler_modalities_equal_feeding_the_null_values():
    from ssr.models.amf import NULL_DEPTH

    sampler = DiffusionSampler(tiny_diffusion())
    lr, sr, codes, depth = inputs()
    both = sampler(lr, sr, codes, depth, steps=2, seed=3)
    no_depth = sampler(lr, sr, codes, depth, steps=2, seed=3, modalities=("kernels",))
    assert torch.equal(no_depth, sampler(lr, sr, codes, torch.full_like(depth, NULL_DEPTH), steps=2, seed=3))
    no_kernels = sampler(lr, sr, codes, depth, steps=2, seed=3, modalities=("depth",))
    assert torch.equal(no_kernels, sampler(lr, sr, torch.zeros_like(codes), depth, steps=2, seed=3))
    # the conditions matter to this (random) model, so each ablation changes the image
    assert (both - no_depth).abs().mean() > 1e-5 and (both - no_kernels).abs().mean() > 1e-5
    with pytest.raises(SSRError, match="unknown modality"):
        sampler(lr, sr, codes, depth, steps=2, modalities=("kernels", "colour"))


def test_ablation_bench_methods_run_the_pipeline_with_left_out_modalities(diff_pipe_dir):
    from ssr.eval.methods import get_method

    lr = textured(12, 16)[None]
    full = get_method("ssr", weights=str(diff_pipe_dir), device="cpu", steps=2)
    rows = {name: get_method(name, weights=str(diff_pipe_dir), device="cpu", steps=2)
            for name in ("ssr-t1", "ssr-kernel-only", "ssr-depth-only")}
    assert len({full.signature, *(m.signature for m in rows.values())}) == 4  # cells never mix
    assert rows["ssr-kernel-only"].rounds == 1 and rows["ssr-kernel-only"].modalities == ("kernels",)
    assert rows["ssr-depth-only"].modalities == ("depth",) and rows["ssr-t1"].modalities == ("kernels", "depth")
    pipe = full.pipe
    for name, m in rows.items():
        out = m(lr, 4)
        want = pipe(lr, steps=2, svkr_rounds=1, modalities=m.modalities).image
        assert out.shape == (1, 3, 48, 64) and torch.allclose(out, want.clamp(0, 1))
    assert not torch.equal(rows["ssr-kernel-only"](lr, 4), rows["ssr-t1"](lr, 4))


def test_pipeline_default_strength_is_stored_with_the_weights(diff_pipe_dir, tmp_path):
    pipe = SSRPipeline.from_pretrained(diff_pipe_dir, device="cpu")
    assert pipe.strength == 1.0  # folders written before the key existed keep the full residual
    x = textured(12, 16)
    svkr = pipe(x, diffusion=False).image
    full = pipe(x, steps=2, seed=1).image
    pipe.strength = 0.5
    pipe.save_pretrained(tmp_path / "half")
    again = SSRPipeline.from_pretrained(tmp_path / "half", device="cpu")
    assert again.strength == 0.5
    half = again(x, steps=2, seed=1).image
    assert torch.equal(half, again(x, steps=2, seed=1, strength=0.5).image)
    assert torch.equal(full, again(x, steps=2, seed=1, strength=1.0).image)
    # pixel mode without colour correction: the half-strength image lies half-way (up to clamping)
    inside = (full > 0) & (full < 1)
    assert inside.float().mean() > 0.5
    assert torch.allclose(half[inside], (svkr + 0.5 * (full - svkr))[inside], atol=2e-6)
    with pytest.raises(SSRError, match="strength"):
        again(x, steps=2, strength=-0.1)


def test_ship_pipeline_stores_the_strength_and_keeps_the_nodepth_dkenet(tmp_path):
    import importlib.util

    from tiny import tiny_models

    spec = importlib.util.spec_from_file_location("ship_pipeline", Path(__file__).resolve().parents[1] / "scripts" /
                                                  "ship_pipeline.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    dk, nb = tiny_models()
    dk.save_pretrained(tmp_path / "dk")
    nb.save_pretrained(tmp_path / "nb")
    tiny_diffusion().save_pretrained(tmp_path / "diff")
    out = tmp_path / "pipe"
    common = ["--dkenet", str(tmp_path / "dk"), "--nonblind", str(tmp_path / "nb"), "--out", str(out)]
    assert ship.main([*common, "--dkenet-nodepth", str(tmp_path / "dk"), "--diffusion", str(tmp_path / "diff"),
                      "--strength", "0.3"]) == 0
    pipe = SSRPipeline.from_pretrained(out, device="cpu")
    assert pipe.has_diffusion and pipe.strength == 0.3 and pipe.scheduler == "dpm++"
    assert ship.main([*common, "--diffusion", str(tmp_path / "diff"), "--scheduler", "unipc"]) == 0
    pipe = SSRPipeline.from_pretrained(out, device="cpu")
    assert pipe.scheduler == "unipc"
    x = textured(12, 16)
    assert torch.equal(pipe(x, steps=4).image, pipe(x, steps=4, scheduler="unipc").image)
    assert not torch.equal(pipe(x, steps=4).image, pipe(x, steps=4, scheduler="dpm++").image)
    assert ship.main(common) == 0  # re-shipping without --dkenet-nodepth keeps the ablation net
    assert (out / "svkr" / "dkenet_nodepth" / "model.safetensors").is_file()
    again = SSRPipeline.from_pretrained(out, device="cpu")
    assert not again.has_diffusion and again.strength == 1.0
    assert ship.main([*common, "--realism-tilt", "2"]) == 0 and ship.main(common) == 0  # kept when not given
    assert json.loads((out / "pipeline.json").read_text())["realism_tilt"] == 2.0
