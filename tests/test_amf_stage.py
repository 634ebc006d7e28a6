"""The ``amf`` training stage: the tiny config trains end to end through the CLI and its output
upscales with diffusion; the CPU and GPU configs parse, build and take one step."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
import yaml

from ssr.cli import main
from ssr.io import read_image, write_image
from ssr.models import SSRModel
from ssr.models.denoiser import SSRDiffusion
from ssr.pipeline import SSRPipeline
from ssr.train import get_stage, load_config

from conftest import textured
from tiny import image_folder, tiny_pipeline

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_train_amf_tiny_config_through_the_cli_then_upscale(tmp_path, capsys):
    pipe_dir = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    cfg = yaml.safe_load((CONFIGS / "amf_tiny.yaml").read_text())
    cfg["init_pipeline"] = str(pipe_dir)
    cfg["data"]["roots"] = [str(data)]
    (tmp_path / "amf.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    code = main(["train", "amf", "--config", str(tmp_path / "amf.yaml"), "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "weights written" in captured.out
    final = SSRModel.from_pretrained(out / "final")
    assert isinstance(final, SSRDiffusion) and final.pretrained_extra["steps"] == 4
    log = (out / "log.csv").read_text()
    assert "diffusion_mse" in log and "dc_l1" in log
    assert "val_psnr" in (out / "eval.csv").read_text()
    # the exported pipeline folder upscales with diffusion, in Python and through the CLI
    pipe = SSRPipeline.from_pretrained(out / "pipeline", device="cpu")
    assert pipe.has_diffusion
    x = textured(12, 16)
    assert pipe(x, steps=2, seed=1).image.shape == (1, 3, 48, 64)
    write_image(tmp_path / "in.png", x)
    code = main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "sr.png"), "--weights", str(out / "pipeline"),
                 "--steps", "2", "--seed", "1"])
    assert code == 0, capsys.readouterr().err
    assert read_image(tmp_path / "sr.png").size == (48, 64)
    # ssr bench scores the full pipeline as method "ssr"; a pipeline without diffusion is refused
    hr = image_folder(tmp_path / "hr", n=2, size=(32, 32))
    code = main(["bench", "--data", f"{hr}:blur-only", "--methods", "ssr", "--weights", str(out / "pipeline"),
                 "--out", str(tmp_path / "bench"), "--metrics", "psnr", "--cache", str(tmp_path / "cache"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "| ssr |" in (tmp_path / "bench" / "results.md").read_text()
    code = main(["bench", "--data", f"{hr}:blur-only", "--methods", "ssr", "--weights", str(pipe_dir),
                 "--out", str(tmp_path / "bench2"), "--metrics", "psnr", "--cache", str(tmp_path / "cache"), "--quiet"])
    assert code != 0 and "diffusion weights" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["amf_cpu", "amf_gpu"])
def test_cpu_and_gpu_configs_parse_build_and_step(tmp_path, name):
    pipe_dir = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("amf")
    cfg = load_config(CONFIGS / f"{name}.yaml", cls.defaults,
                      {"stage": "amf", "init_pipeline": str(pipe_dir), "batch_size": 1, "mixed_precision": "no",
                       "data": {"roots": [str(data)], "hr_crop": 32, "depth": "vertical", "val_batch": 1}})
    trainer = cls(cfg, tmp_path / name, device="cpu")
    model = trainer.unwrapped
    assert model.mode == "pixel" and model.config["amf"]["hidden"] == 128
    assert 1e6 < model.num_parameters < (8e6 if name == "amf_cpu" else 60e6)
    batch = trainer.make_batch([0], trainer.device)
    assert batch["sr"].shape == batch["hr"].shape == (1, 3, 32, 32) and batch["codes"].shape == (1, 3, 8, 8)
    loss, logs = trainer.training_step(batch)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"diffusion_mse", "dc_l1"}
    assert all(p.grad is not None for p in model.amf.inject.parameters())


def test_missing_pipeline_and_optional_init(tmp_path):
    from ssr.errors import SSRError

    cls = get_stage("amf")
    cfg = load_config(CONFIGS / "amf_tiny.yaml", cls.defaults, {"stage": "amf", "init_pipeline": str(tmp_path)})
    with pytest.raises(SSRError, match="SVKR pipeline"):
        cls(cfg, tmp_path / "x", device="cpu")
    pipe_dir = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    over = {"stage": "amf", "init_pipeline": str(pipe_dir), "init_from": str(tmp_path / "absent"),
            "data": {"roots": [str(data)]}}
    with pytest.raises(SSRError, match="not found"):
        cls(load_config(CONFIGS / "amf_tiny.yaml", cls.defaults, over), tmp_path / "y", device="cpu")
    over["init_from_optional"] = True  # the GPU config starts from shipped weights only when they exist
    assert cls(load_config(CONFIGS / "amf_tiny.yaml", cls.defaults, over), tmp_path / "z", device="cpu").step == 0


def test_latent_mode_trains_and_exports_a_pipeline_with_its_base(tmp_path, monkeypatch):
    from test_diffusion import tiny_sd_base

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = tiny_sd_base(tmp_path / "base")
    pipe_dir = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("amf")
    cfg = load_config(CONFIGS / "amf_tiny.yaml", cls.defaults,
                      {"stage": "amf", "init_pipeline": str(pipe_dir), "steps": 2, "eval_every": 2,
                       "model": {"mode": "latent", "base": str(base), "amf": {"widths": [8, 16], "aux_widths": [4, 4]}},
                       "data": {"roots": [str(data)]}})
    final = cls(cfg, tmp_path / "run", device="cpu").fit()
    model = SSRModel.from_pretrained(final)
    assert model.mode == "latent" and not model.has_base
    pipe = SSRPipeline.from_pretrained(tmp_path / "run" / "pipeline", device="cpu")
    assert pipe.has_diffusion and (tmp_path / "run" / "pipeline" / "diffusion" / "base" / "vae").is_dir()
    assert pipe(textured(8, 8), steps=2).image.shape == (1, 3, 32, 32)


def test_cond_dropout_feeds_the_null_modalities_to_the_model(tmp_path):
    from ssr.models.amf import NULL_DEPTH

    pipe_dir = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("amf")
    seen = []
    for p in (1.0, 0.0):
        cfg = load_config(CONFIGS / "amf_tiny.yaml", cls.defaults,
                          {"stage": "amf", "init_pipeline": str(pipe_dir), "batch_size": 2,
                           "cond_dropout": {"kernels": p, "depth": p}, "data": {"roots": [str(data)]}})
        trainer = cls(cfg, tmp_path / f"run{p}", device="cpu")
        forward = trainer.model.forward
        trainer.model.forward = lambda x_t, t, lr, sr, codes, depth: (seen.append((codes, depth)),
                                                                       forward(x_t, t, lr, sr, codes, depth))[1]
        batch = trainer.make_batch([0, 1], trainer.device)
        trainer.training_step(batch)
        codes, depth = seen[-1]
        if p == 1.0:
            assert float(codes.abs().max()) == 0 and torch.equal(depth, torch.full_like(depth, NULL_DEPTH))
        else:
            assert torch.equal(codes, batch["codes"]) and torch.equal(depth, batch["depth"])
