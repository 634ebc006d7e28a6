"""Evaluation of depth backends on RGB-D sets (used by ``benchmarks/depth_eval.py`` and by the
training stage's validation).

:func:`evaluate_estimator` runs a backend on every picture of a set and averages
:func:`ssr.depth.metrics.depth_metrics` over the pictures. With ``degrade=True`` each picture is
first degraded the way SSR's inputs are: the x4 :class:`~ssr.degradation.DegradationPipeline`
``noise-jpeg`` preset (its own synthetic depth for the blur field, so the blur carries no
ground-truth information; seed ``seed + index``), after cropping to a multiple of 4, and the LR
result is bicubic-upsampled back to the HR size: the kind of picture the depth estimator meets
inside SVKR. The ground truth is cropped identically.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from .base import DepthEstimator
from .data import DepthSample
from .metrics import depth_metrics


def degrade_upsample(rgb: torch.Tensor, seed: int, scale: int = 4, preset: str = "noise-jpeg") -> torch.Tensor:
    """``3 x H x W`` -> the x``scale`` degraded picture bicubic-upsampled to ``3 x H' x W'``
    (``H'``, ``W'`` = ``H``, ``W`` cropped down to multiples of ``scale``)."""
    from ..degradation import DegradationConfig, DegradationPipeline

    pipe = DegradationPipeline(DegradationConfig.preset(preset, scale=scale))
    out = pipe(rgb, seed=seed)
    h, w = out.hr.shape[-2:]
    return F.interpolate(out.lr, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)[0]


def evaluate_estimator(estimator: DepthEstimator, samples: Sequence[DepthSample], degrade: bool = False,
                       seed: int = 0, scale: int = 4) -> dict[str, float]:
    """Mean AbsRel and delta1 of ``estimator`` over ``samples`` (``n``: number of pictures)."""
    rows = []
    for i, smp in enumerate(samples):
        rgb, inv, valid = smp.rgb, smp.inv, smp.valid
        if degrade:
            rgb = degrade_upsample(rgb, seed + i, scale)
            h, w = rgb.shape[-2:]
            inv, valid = inv[..., :h, :w], valid[..., :h, :w]
        pred = estimator.estimate(rgb[None])[0]
        rows.append(depth_metrics(pred, inv, valid))
    out = {k: float(sum(r[k] for r in rows) / max(len(rows), 1)) for k in ("absrel", "delta1")}
    out["n"] = len(rows)
    return out


def time_estimator(estimator: DepthEstimator, size: int = 512, runs: int = 10, threads: int | None = 2) -> float:
    """Median seconds of one ``estimate`` of a ``1 x 3 x size x size`` picture (after a warm-up
    run), with ``threads`` CPU threads (``None`` keeps torch's setting)."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(estimator.device)
        sync = torch.cuda.synchronize if estimator.device.type == "cuda" else (lambda: None)
        estimator.estimate(x)
        sync()
        times = []
        for _ in range(max(1, runs)):
            t = time.perf_counter()
            estimator.estimate(x)
            sync()
            times.append(time.perf_counter() - t)
        return statistics.median(times) if times else math.nan
    finally:
        torch.set_num_threads(old)
