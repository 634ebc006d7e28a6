"""Kernel-estimation accuracy on synthetic sets (``ssr bench --kernels``).

For every image of an HR-only set the exact degradation of the set is regenerated (same
recipe, seed and blur depth as :mod:`.datasets`), which gives the true kernel field ``K``;
each estimator then predicts ``K_est`` from the LR image, and we report

* **kernel L1**: mean over LR pixels of ``sum_taps |K_est - K|`` (0 = exact, 2 = disjoint);
* **kernel width** (RMS radius) of the estimates vs the truth, and the correlation of the two
  width maps within each picture and of the mean widths across pictures;
* **LR re-synthesis PSNR**: PSNR between ``HR (*) K_est`` and ``HR (*) K`` sampled on the LR grid
  (the clean LR each kernel field would produce; RGB, float, no border crop): how well the
  estimate explains the image formation, weighting errors by how much they change the image.

Estimators:

==========================  ===========================================================
``svkr``                     DKENet at the last of T = 3 SVKR rounds (depth from the loop)
``svkr-t1``                  DKENet with the depth of the bicubic image (T = 1)
``dkenet-nodepth``           the DKENet trained without depth
``dkenet-true-depth``        DKENet given the depth that generated the blur (an upper bound)
``mean-kernel``              the mean training kernel everywhere (a prior, no estimation)
==========================  ===========================================================
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..degradation import DegradationConfig, apply_kernel_field
from ..errors import SSRError
from ..io import list_images, write_json, write_text
from .datasets import DEFAULT_PRESET, degrade_source, image_seed, parse_spec, scene_depth
from .report import machine_line

ESTIMATORS = ("svkr", "svkr-t1", "dkenet-nodepth", "dkenet-true-depth", "mean-kernel")


def _load(weights: str | None, device: str):
    from ..models.base import SSRModel
    from ..pipeline import DEFAULT_DIR, SSRPipeline

    pipe = SSRPipeline.from_pretrained(weights, device=device, load_diffusion=False)
    nodepth_dir = Path(weights or DEFAULT_DIR) / "svkr" / "dkenet_nodepth"
    nodepth = SSRModel.from_pretrained(nodepth_dir, device=device) if (nodepth_dir / "config.json").is_file() else None
    return pipe.svkr, nodepth


@torch.no_grad()
def estimate(name: str, svkr, nodepth, lr: torch.Tensor, true_depth: torch.Tensor) -> torch.Tensor:
    """Kernel field ``1 x k*k x h x w`` of estimator ``name`` for ``lr`` (``1 x 3 x h x w``)."""
    if name == "svkr":
        return svkr(lr, rounds=3, return_kernels=True).kernels
    if name == "svkr-t1":
        return svkr(lr, rounds=1, return_kernels=True).kernels
    if name == "dkenet-nodepth":
        if nodepth is None:
            raise SSRError("dkenet-nodepth needs svkr/dkenet_nodepth in the pipeline folder")
        return nodepth(lr, None)
    if name == "dkenet-true-depth":
        return svkr.dkenet(lr, true_depth)
    if name == "mean-kernel":
        nb = svkr.nonblind
        h, w = lr.shape[-2:]
        return nb.pca_mean.view(1, -1, 1, 1).expand(1, -1, h, w)
    raise SSRError(f"unknown kernel estimator {name!r}; choose from {', '.join(ESTIMATORS)}")


def kernel_width(field: torch.Tensor) -> torch.Tensor:
    """RMS radius of each kernel of a field ``B x k*k x h x w`` -> ``B x h x w``: the square root
    of half the trace of its second central moment (the sigma of an isotropic Gaussian)."""
    b, kk, h, w = field.shape
    k = math.isqrt(kk)
    r = torch.arange(k, device=field.device, dtype=field.dtype) - k // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    yy, xx = yy.reshape(1, kk, 1, 1), xx.reshape(1, kk, 1, 1)
    my, mx = (field * yy).sum(1, keepdim=True), (field * xx).sum(1, keepdim=True)
    var = (field * ((yy - my) ** 2 + (xx - mx) ** 2)).sum(1) / 2
    return var.clamp_min(0).sqrt()


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    den = (a.norm() * b.norm()).item()
    return float((a * b).sum().item() / den) if den > 0 else 0.0


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def run_kernel_bench(data: list[str], estimators: list[str], out: Path, scale: int = 4, limit: int | None = None,
                     base_seed: int = 0, weights: str | None = None, device: str = "cpu", command: str = "",
                     progress: bool = True) -> Path:
    """Score kernel estimators on synthetic sets; writes ``OUT/kernels.md`` and ``OUT/kernels.json``."""
    from tqdm.auto import tqdm

    bad = [e for e in estimators if e not in ESTIMATORS]
    if bad:
        raise SSRError(f"unknown kernel estimator(s) {', '.join(bad)}; choose from {', '.join(ESTIMATORS)}")
    svkr, nodepth = _load(weights, device)
    rows = []
    for spec_text in data:
        spec = parse_spec(spec_text)
        if (spec.path / "HR").is_dir():
            raise SSRError(f"{spec.path}: kernel accuracy needs an HR-only folder (true kernels are synthetic)")
        preset = spec.preset or DEFAULT_PRESET
        cfg = DegradationConfig.preset(preset, scale=scale)
        cfg.field.kernel_size = int(svkr.dkenet.config["kernel_size"])  # the set's kernels in the models' window
        sources = list_images([spec.path])[:limit]
        label = f"{spec.path.name} x{scale} {preset}" + ("" if spec.depth == "synthetic" else f" (blur from {spec.depth} depth)")
        scores = {e: {"l1": [], "psnr": [], "sec": [], "width": [], "true_width": [], "corr": []} for e in estimators}
        for src in tqdm(sources, desc=f"kernels {label}", disable=not progress):
            deg = degrade_source(src, cfg, image_seed(base_seed, src.name), spec.depth)
            lr, hr, gt = deg.lr.to(device), deg.hr.to(device), deg.kernels.to(device)
            true_depth = deg.depth.to(device)
            clean = apply_kernel_field(hr, gt, scale)
            true_w = kernel_width(gt)
            for e in estimators:
                t0 = time.perf_counter()
                k = estimate(e, svkr, nodepth, lr, true_depth)
                scores[e]["sec"].append(time.perf_counter() - t0)
                scores[e]["l1"].append(float((k - gt).abs().sum(1).mean()))
                scores[e]["psnr"].append(_psnr(apply_kernel_field(hr, k, scale).clamp(0, 1), clean.clamp(0, 1)))
                est_w = kernel_width(k)
                scores[e]["width"].append(float(est_w.mean()))
                scores[e]["true_width"].append(float(true_w.mean()))
                scores[e]["corr"].append(_corr(est_w, true_w))
        for e in estimators:
            s = scores[e]
            n = max(1, len(s["l1"]))
            # width correlation across images (does the estimate follow how blurry each picture is?)
            across = _corr(torch.tensor(s["width"]), torch.tensor(s["true_width"])) if n > 1 else 0.0
            rows.append({"dataset": label, "estimator": e, "images": len(s["l1"]), "kernel_l1": sum(s["l1"]) / n,
                         "resynth_psnr": sum(s["psnr"]) / n, "sec": sum(s["sec"]) / n,
                         "width": sum(s["width"]) / n, "true_width": sum(s["true_width"]) / n,
                         "width_corr_within": sum(s["corr"]) / n, "width_corr_across": across})
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Kernel estimation accuracy", "", f"Command: `{command}`" if command else "", "",
             f"Machine: {machine_line()}", "",
             "| dataset | estimator | images | kernel L1 ↓ | LR re-synthesis PSNR (dB) ↑ | mean width (true) | "
             "width corr. within images ↑ | width corr. across images ↑ | s / image |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['estimator']} | {r['images']} | {r['kernel_l1']:.4f} | "
                     f"{r['resynth_psnr']:.2f} | {r['width']:.2f} ({r['true_width']:.2f}) | "
                     f"{r['width_corr_within']:.2f} | {r['width_corr_across']:.2f} | {r['sec']:.2f} |")
    lines += ["", "Width: RMS radius of a kernel in HR pixels (the sigma of an isotropic Gaussian). Correlation "
              "within images: Pearson correlation between the estimated and true width maps of a picture, "
              "averaged over pictures (does the estimate follow the blur across the picture?); across "
              "images: between the per-picture mean widths (does it tell a blurry picture from a sharp one?). "
              "A constant estimate scores 0 on both."]
    write_json(out / "kernels.json", rows)
    return write_text(out / "kernels.md", "\n".join(lines) + "\n")


__all__ = ["ESTIMATORS", "estimate", "kernel_width", "run_kernel_bench", "scene_depth"]
