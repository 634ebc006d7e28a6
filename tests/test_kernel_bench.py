"""Kernel-accuracy benchmark and the scene-depth option of synthetic sets."""
import json

import pytest
import torch

from ssr.errors import SSRError
from ssr.eval.datasets import parse_spec
from ssr.eval.kernel_bench import ESTIMATORS, run_kernel_bench

from tiny import image_folder, tiny_models, tiny_pipeline


def test_spec_with_scene_depth(tmp_path):
    folder = image_folder(tmp_path / "hr", n=1)
    spec = parse_spec(f"{folder}:no-jpeg@builtin")
    assert spec.preset == "no-jpeg" and spec.depth == "builtin"
    assert parse_spec(str(folder)).depth == "synthetic"
    with pytest.raises(SSRError, match="unknown blur depth"):
        parse_spec(f"{folder}:no-jpeg@lidar")


def test_kernel_bench_scores_estimators(tmp_path):
    pipe = tiny_pipeline(tmp_path / "pipe")
    nodepth, _ = tiny_models(seed=3)
    nodepth.use_depth = False
    nodepth.config["use_depth"] = False
    nodepth.save_pretrained(pipe / "svkr" / "dkenet_nodepth")
    data = image_folder(tmp_path / "hr", n=2, size=(48, 40))
    md = run_kernel_bench([f"{data}:blur-only"], list(ESTIMATORS), tmp_path / "out", weights=str(pipe),
                          progress=False)
    rows = json.loads((tmp_path / "out" / "kernels.json").read_text())
    assert {r["estimator"] for r in rows} == set(ESTIMATORS)
    for r in rows:
        assert r["images"] == 2 and 0 <= r["kernel_l1"] <= 2 and r["resynth_psnr"] > 10
    assert "LR re-synthesis PSNR" in md.read_text()
    with pytest.raises(SSRError, match="unknown kernel estimator"):
        run_kernel_bench([str(data)], ["nope"], tmp_path / "o2", weights=str(pipe))


def test_kernel_width_is_the_gaussian_sigma():
    from ssr.degradation.kernels import isotropic_gaussian
    from ssr.eval.kernel_bench import kernel_width

    sig = torch.tensor([0.8, 1.5, 2.5])
    field = isotropic_gaussian(sig, k=41).reshape(1, 3, 41 * 41).permute(0, 2, 1).reshape(1, 41 * 41, 1, 3)
    w = kernel_width(field)[0, 0]
    assert torch.allclose(w, sig, atol=0.02), w
    # shifting a kernel does not change its width
    shifted = torch.roll(field.reshape(1, 41, 41, 1, 3), 2, dims=2).reshape(1, 41 * 41, 1, 3)
    assert torch.allclose(kernel_width(shifted), w, atol=1e-4)
