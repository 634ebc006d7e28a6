"""Kernel-estimation accuracy on synthetic sets (``ssr bench --kernels``).

For every image of an HR-only set the exact degradation of the set is regenerated (same
recipe, seed and blur depth as :mod:`.datasets`), which gives the true kernel field ``K``;
each estimator then predicts ``K_est`` from the LR image, and we report

* **kernel L1**: mean over LR pixels of ``sum_taps |K_est - K|`` (0 = exact, 2 = disjoint);
* **kernel width** (RMS radius) of the estimates vs the truth, and the correlation of the two
  width maps within each picture and of the mean widths across pictures;
* **LR re-synthesis PSNR**: PSNR between ``HR (*) K_est`` and ``HR (*) K`` sampled on the LR grid
  (the clean LR each kernel field would produce; RGB, float, no border crop): how well the
  estimate explains the image formation, weighting errors by how much they change the image;
* **observed-LR PSNR**: PSNR between ``HR (*) K_est`` and the LR picture itself (noise and JPEG
  included), where the true kernels also score a finite value (the ``true-kernels`` row);
* with ``sr=True``, **SR PSNR-Y**: the non-blind SR network run on the LR picture with each
  estimator's kernels, against the HR picture (border of ``scale`` px cropped): whether the
  estimates are worth more to the SR than the mean kernel, and how far from the true kernels.

``fields`` replaces the recipe's field kind (``depth``, ``smooth``, ``piecewise``,
``invariant`` or the held-out ``radial``, see :mod:`ssr.degradation.fields`), so one set is
scored under several blur families.

Estimators:

==========================  ===========================================================
``svkr``                     DKENet at the last of T = 3 SVKR rounds (depth from the loop)
``svkr-t1``                  DKENet with the depth of the bicubic image (T = 1)
``dkenet-nodepth``           the DKENet trained without depth
``dkenet-true-depth``        DKENet given the depth that generated the blur (an upper bound)
``mean-kernel``              the mean training kernel everywhere (a prior, no estimation)
``best-single``              oracle: the one valid kernel per picture (non-negative taps summing
                             to one) that best re-synthesises the clean LR (least squares)
``local-oracle``             oracle: the per-pixel Gaussian width the HR picture tells by
                             analysis-by-synthesis against the LR (:mod:`.local_oracle`): a
                             ceiling on what the local evidence of the picture says about blur
``true-kernels``             the true field (reference for the observed-LR PSNR)
==========================  ===========================================================
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..choices import ESTIMATORS
from ..degradation import DegradationConfig, apply_kernel_field, tap_patches
from ..degradation.fields import FIELD_KINDS, HELD_OUT_KINDS, kernel_width
from ..errors import SSRError
from ..io import list_images, write_json, write_text
from .datasets import DEFAULT_PRESET, degrade_source, image_seed, parse_spec, scene_depth
from .local_oracle import local_oracle_kernels
from .metrics import psnr as psnr_y
from .report import machine_line



def _load(weights: str | None, device: str):
    from ..models.base import SSRModel
    from ..pipeline import DEFAULT_DIR, SSRPipeline

    pipe = SSRPipeline.from_pretrained(weights, device=device, load_diffusion=False)
    nodepth_dir = Path(weights or DEFAULT_DIR) / "svkr" / "dkenet_nodepth"
    nodepth = SSRModel.from_pretrained(nodepth_dir, device=device) if (nodepth_dir / "config.json").is_file() else None
    return pipe.svkr, nodepth, pipe.priors


def best_single_kernel(hr: torch.Tensor, target: torch.Tensor, k: int, scale: int) -> torch.Tensor:
    """The ``k*k`` kernel ``K`` (non-negative taps summing to one) minimising
    ``|apply(hr, K) - target|^2``: least squares on :func:`~ssr.degradation.tap_patches` (with a
    Lagrange term for the sum and a tiny ridge), then projected gradient onto the simplex. ``hr``: ``1 x 3 x H x W``; ``target``: ``1 x 3 x h x w``; returns ``k*k``."""
    a = tap_patches(hr, k, scale).reshape(k * k, -1).double()  # taps x (C h w)
    gram = a @ a.T
    gram += torch.eye(k * k, dtype=gram.dtype) * (1e-6 * gram.diagonal().mean())
    rhs = a @ target.reshape(-1).double()
    ones = torch.ones(k * k, dtype=gram.dtype)
    sol = torch.linalg.solve(gram, torch.stack([rhs, ones], 1))
    k0, g1 = sol[:, 0], sol[:, 1]
    kern = k0 + g1 * (1 - k0.sum()) / g1.sum()
    # a valid kernel: projected gradient onto the simplex (non-negative taps summing to one)
    step = 1.0 / torch.linalg.eigvalsh(gram)[-1]
    kern = mom = _simplex(kern)
    t = 1.0
    for _ in range(1000):  # FISTA (accelerated projected gradient)
        nxt = _simplex(mom - step * (gram @ mom - rhs))
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        mom, kern, t = nxt + (t - 1) / t_next * (nxt - kern), nxt, t_next
    return kern.float()


def _simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of a vector onto the probability simplex."""
    u, _ = torch.sort(v, descending=True)
    css = u.cumsum(0) - 1
    idx = torch.arange(1, v.numel() + 1, dtype=v.dtype)
    rho = int((u - css / idx > 0).nonzero().max())
    return (v - css[rho] / (rho + 1)).clamp_min(0)


@torch.no_grad()
def estimate(name: str, svkr, nodepth, lr: torch.Tensor, true_depth: torch.Tensor,
             hr: torch.Tensor | None = None, true_kernels: torch.Tensor | None = None) -> torch.Tensor:
    """Kernel field ``1 x k*k x h x w`` of estimator ``name`` for ``lr`` (``1 x 3 x h x w``);
    the oracles ``best-single``, ``local-oracle`` and ``true-kernels`` also need ``hr`` and the true field."""
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
    if name in ("best-single", "local-oracle", "true-kernels"):
        if hr is None or true_kernels is None:
            raise SSRError(f"{name} is an oracle: it needs the HR picture and the true kernels")
        if name == "true-kernels":
            return true_kernels
        k = math.isqrt(true_kernels.shape[1])
        scale = hr.shape[-1] // lr.shape[-1]
        if name == "local-oracle":
            return local_oracle_kernels(hr, lr, k, scale)
        kern = best_single_kernel(hr, apply_kernel_field(hr, true_kernels, scale), k, scale)
        return kern.view(1, -1, 1, 1).expand(1, -1, *lr.shape[-2:])
    raise SSRError(f"unknown kernel estimator {name!r}; choose from {', '.join(ESTIMATORS)}")


def width_corr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two maps (0 when either is constant)."""
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    if a.abs().max() < 1e-5 or b.abs().max() < 1e-5:  # a constant map up to float rounding
        return 0.0
    den = (a.norm() * b.norm()).item()
    return float((a * b).sum().item() / den) if den > 0 else 0.0


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def run_kernel_bench(data: list[str], estimators: list[str], out: Path, scale: int = 4, limit: int | None = None,
                     base_seed: int = 0, weights: str | None = None, device: str = "cpu", command: str = "",
                     progress: bool = True, fields: list[str] | None = None, sr: bool = False) -> Path:
    """Score kernel estimators on synthetic sets; writes ``OUT/kernels.md`` and ``OUT/kernels.json``.

    ``fields``: field kinds to score every set under (default: the preset's own, ``depth``)."""
    from tqdm.auto import tqdm

    bad = [e for e in estimators if e not in ESTIMATORS]
    if bad:
        raise SSRError(f"unknown kernel estimator(s) {', '.join(bad)}; choose from {', '.join(ESTIMATORS)}")
    bad = [f for f in fields or () if f not in FIELD_KINDS]
    if bad:
        raise SSRError(f"unknown field kind(s) {', '.join(bad)}; choose from {', '.join(FIELD_KINDS)}")
    specs = [parse_spec(t) for t in data]
    for spec in specs:
        if (spec.path / "HR").is_dir():
            raise SSRError(f"{spec.path}: kernel accuracy needs an HR-only folder (true kernels are synthetic)")
    svkr, nodepth, priors = _load(weights, device)
    prior = priors.net(0.0) if sr and priors else None  # the fidelity set (the other set if it is alone)
    rows = []
    for spec, kind in [(s, f) for s in specs for f in (fields or [None])]:
        preset = spec.preset or DEFAULT_PRESET
        cfg = DegradationConfig.preset(preset, scale=scale)
        cfg.field.kernel_size = int(svkr.dkenet.config["kernel_size"])  # the set's kernels in the models' window
        if kind is not None:
            cfg.field.kind = kind
        sources = list_images([spec.path])[:limit]
        label = (f"{spec.path.name} x{scale} {preset} {cfg.field.kind}" + (" (held out)" if cfg.field.kind in HELD_OUT_KINDS else "")
                 + ("" if spec.depth == "synthetic" or cfg.field.kind != "depth" else f" (blur from {spec.depth} depth)"))
        scores = {e: {"l1": [], "psnr": [], "obs": [], "sec": [], "width": [], "true_width": [], "corr": [], "sr": [],
                      "sr_prior": []}
                  for e in estimators}
        for src in tqdm(sources, desc=f"kernels {label}", disable=not progress):
            deg = degrade_source(src, cfg, image_seed(base_seed, src.name), spec.depth)
            lr, hr, gt = deg.lr.to(device), deg.hr.to(device), deg.kernels.to(device)
            true_depth = deg.depth.to(device)
            depth_lr = F.interpolate(true_depth, size=lr.shape[-2:], mode="area") if prior is not None else None
            clean = apply_kernel_field(hr, gt, scale)
            true_w = kernel_width(gt)
            for e in estimators:
                t0 = time.perf_counter()
                k = estimate(e, svkr, nodepth, lr, true_depth, hr=hr, true_kernels=gt)
                scores[e]["sec"].append(time.perf_counter() - t0)
                scores[e]["l1"].append(float((k - gt).abs().sum(1).mean()))
                resynth = apply_kernel_field(hr, k, scale).clamp(0, 1)
                scores[e]["psnr"].append(_psnr(resynth, clean.clamp(0, 1)))
                scores[e]["obs"].append(_psnr(resynth, lr))
                est_w = kernel_width(k)
                scores[e]["width"].append(float(est_w.mean()))
                scores[e]["true_width"].append(float(true_w.mean()))
                scores[e]["corr"].append(width_corr(est_w, true_w))
                if sr:
                    with torch.no_grad():
                        out_sr = svkr.nonblind(lr, k.expand(lr.shape[0], -1, -1, -1)).float().clamp(0, 1)
                    scores[e]["sr"].append(psnr_y(out_sr[0], hr[0], crop=scale))
                    if prior is not None:  # the prior-backed last round, depth held at the true one
                        with torch.no_grad():
                            codes = prior.kernel_codes(k.expand(lr.shape[0], -1, -1, -1))
                            out_p = prior(lr, codes, depth_lr).float().clamp(0, 1)
                        scores[e]["sr_prior"].append(psnr_y(out_p[0], hr[0], crop=scale))
        for e in estimators:
            s = scores[e]
            n = max(1, len(s["l1"]))
            # width correlation across images (does the estimate follow how blurry each picture is?)
            across = width_corr(torch.tensor(s["width"]), torch.tensor(s["true_width"])) if n > 1 else 0.0
            rows.append({"dataset": label, "estimator": e, "images": len(s["l1"]), "kernel_l1": sum(s["l1"]) / n,
                         "resynth_psnr": sum(s["psnr"]) / n, "observed_psnr": sum(s["obs"]) / n, "sec": sum(s["sec"]) / n,
                         "width": sum(s["width"]) / n, "true_width": sum(s["true_width"]) / n,
                         "width_corr_within": sum(s["corr"]) / n, "width_corr_across": across,
                         **({"sr_psnr_y": sum(s["sr"]) / n} if sr else {}),
                         **({"sr_prior_psnr_y": sum(s["sr_prior"]) / n} if prior is not None else {})})
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Kernel estimation accuracy", "", f"Command: `{command}`" if command else "", "",
             f"Machine: {machine_line()}", "",
             "| dataset | estimator | images | kernel L1 ↓ | LR re-synthesis PSNR (dB) ↑ | observed-LR PSNR (dB) ↑ | "
             "mean width (true) | width corr. within images ↑ | width corr. across images ↑ | s / image |"
             + (" SR PSNR-Y (dB) ↑ |" if sr else "") + (" prior SR PSNR-Y (dB) ↑ |" if prior is not None else ""),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if sr else "") + ("---:|" if prior is not None else "")]
    for r in rows:
        resynth = "∞" if math.isinf(r["resynth_psnr"]) or r["resynth_psnr"] >= 119 else f"{r['resynth_psnr']:.2f}"
        lines.append(f"| {r['dataset']} | {r['estimator']} | {r['images']} | {r['kernel_l1']:.4f} | "
                     f"{resynth} | {r['observed_psnr']:.2f} | {r['width']:.2f} ({r['true_width']:.2f}) | "
                     f"{r['width_corr_within']:.2f} | {r['width_corr_across']:.2f} | {r['sec']:.2f} |"
                     + (f" {r['sr_psnr_y']:.2f} |" if sr else "")
                     + (f" {r['sr_prior_psnr_y']:.2f} |" if prior is not None else ""))
    lines += ["", "Width: RMS radius of a kernel in HR pixels (the sigma of an isotropic Gaussian). Correlation "
              "within images: Pearson correlation between the estimated and true width maps of a picture, "
              "averaged over pictures (does the estimate follow the blur across the picture?); across "
              "images: between the per-picture mean widths (does it tell a blurry picture from a sharp one?). "
              "A constant estimate scores 0 on both."]
    if sr:
        lines += ["", "SR PSNR-Y: the shipped non-blind SR network given each row's kernels (the mean-kernel row: "
                  "what SR gets without estimation; true-kernels: with perfect estimation)."]
    if prior is not None:
        lines += ["", "Prior SR PSNR-Y: the pipeline's prior-backed fidelity network (SVKR's last round, realism 0) "
                  "given each row's kernels and the true depth: whether that network reads its kernel codes."]
    write_json(out / "kernels.json", rows)
    return write_text(out / "kernels.md", "\n".join(lines) + "\n")


__all__ = ["ESTIMATORS", "best_single_kernel", "estimate", "kernel_width", "run_kernel_bench", "scene_depth", "width_corr"]
