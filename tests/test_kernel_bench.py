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
    by = {r["estimator"]: r for r in rows}
    assert by["true-kernels"]["kernel_l1"] == 0 and by["true-kernels"]["width_corr_within"] > 0.99
    # the oracle single kernel re-synthesises at least as well as the mean kernel
    assert by["best-single"]["resynth_psnr"] >= by["mean-kernel"]["resynth_psnr"] - 1e-6
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


def test_kernel_bench_scores_several_field_kinds(tmp_path):
    pipe = tiny_pipeline(tmp_path / "pipe")
    data = image_folder(tmp_path / "hr", n=1, size=(48, 40))
    run_kernel_bench([f"{data}:blur-only"], ["mean-kernel", "true-kernels"], tmp_path / "out", weights=str(pipe),
                     progress=False, fields=["piecewise", "radial"], sr=True)
    rows = json.loads((tmp_path / "out" / "kernels.json").read_text())
    assert [r["dataset"].split(" ", 3)[3] for r in rows] == ["piecewise"] * 2 + ["radial (held out)"] * 2
    assert all(10 < r["sr_psnr_y"] < 80 for r in rows)
    assert "SR PSNR-Y" in (tmp_path / "out" / "kernels.md").read_text()
    with pytest.raises(SSRError, match="unknown field kind"):
        run_kernel_bench([str(data)], ["mean-kernel"], tmp_path / "o2", weights=str(pipe), fields=["spiral"])


def test_best_single_kernel_recovers_an_invariant_blur():
    """With one true kernel everywhere, the oracle finds it (a valid kernel, re-synthesis exact)."""
    from ssr.degradation import apply_kernel_field, invariant_field
    from ssr.degradation.kernels import anisotropic_gaussian, center_shift
    from ssr.eval.kernel_bench import best_single_kernel

    g = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 96, 96, generator=g), 3, 1, 1)
    true = anisotropic_gaussian(torch.tensor(1.6), torch.tensor(0.8), torch.tensor(0.5), k=13,
                                shift=center_shift(4)).reshape(-1)
    target = apply_kernel_field(hr, invariant_field(true, 24, 24), 4)
    est = best_single_kernel(hr, target, 13, 4)
    assert est.min() >= 0 and abs(float(est.sum()) - 1) < 1e-4
    fit = apply_kernel_field(hr, invariant_field(est, 24, 24), 4)
    assert float((fit - target).abs().max()) < 2e-3
    assert float((est - true).abs().sum()) < 0.2


def test_tap_patches_reproduce_apply(rng):
    from ssr.degradation import apply_kernel_field, tap_patches
    from ssr.degradation.fields import FieldConfig, smooth_random_field

    hr = torch.rand(2, 3, 32, 24, generator=rng)
    fld, _ = smooth_random_field(rng, 2, 8, 6, FieldConfig(kernel_size=9), 4)
    via = (tap_patches(hr, 9, 4) * fld[:, :, None]).sum(1)
    assert torch.allclose(via, apply_kernel_field(hr, fld, 4), atol=1e-5)


def test_width_correlation_of_a_constant_map_is_zero():
    """A constant estimate (up to float rounding) does not follow anything."""
    from ssr.eval.kernel_bench import width_corr

    g = torch.Generator().manual_seed(0)
    noisy_const = torch.full((50,), 1.8) + 1e-7 * torch.randn(50, generator=g)
    assert width_corr(noisy_const, torch.randn(50, generator=g)) == 0.0
    ramp = torch.linspace(0, 1, 50)
    assert abs(width_corr(ramp, 2 * ramp + 1) - 1) < 1e-9


def test_local_oracle_reads_the_blur_from_the_hr_picture():
    """Knowing the HR content, analysis-by-synthesis finds each half's Gaussian width."""
    from ssr.degradation import apply_kernel_field
    from ssr.degradation.kernels import center_shift, isotropic_gaussian
    from ssr.eval.kernel_bench import estimate, kernel_width, width_corr

    g = torch.Generator().manual_seed(1)
    hr = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 128, 128, generator=g), 3, 1, 1)
    sig = torch.full((1, 32, 32), 0.9)
    sig[..., 16:] = 2.5  # sharp left half, blurry right half
    true = isotropic_gaussian(sig, 21, shift=center_shift(4), dim=1)
    lr = apply_kernel_field(hr, true, 4)
    est = estimate("local-oracle", None, None, lr, None, hr=hr, true_kernels=true)
    assert est.shape == true.shape and torch.allclose(est.sum(1), torch.ones(1, 32, 32), atol=1e-4)
    w = kernel_width(est)[0]
    assert abs(float(w[4:-4, 2:10].median()) - 0.9) < 0.25 and abs(float(w[4:-4, 22:30].median()) - 2.5) < 0.4
    assert width_corr(w, kernel_width(true)[0]) > 0.9
