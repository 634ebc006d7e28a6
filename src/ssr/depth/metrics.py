"""Depth evaluation metrics after scale-and-shift alignment in inverse-depth space.

Exactly what :func:`depth_metrics` does, per image:

1. ``pred`` (relative inverse depth, any scale/shift) is aligned to the ground-truth inverse
   depth ``g`` by least squares over the valid pixels: ``(s, t) = argmin sum (s*pred + t - g)^2``
   (:func:`ssr.depth.losses.align_scale_shift`, float64), ``a = s*pred + t``.
2. The aligned inverse depth is clamped from below to ``floor = min(g over valid pixels)``, the
   inverse depth of the farthest ground-truth point of the image: this keeps every value
   positive and caps predicted distances at the farthest true distance (the per-image analogue
   of MiDaS' depth cap), with the same rule for every method.
3. Depths are ``d_pred = 1 / a`` and ``d_gt = 1 / g``; over the valid pixels
   ``AbsRel = mean(|d_pred - d_gt| / d_gt)`` and
   ``delta1 = mean(max(d_pred / d_gt, d_gt / d_pred) < 1.25)``.

Both numbers are invariant to the unknown scale of ``g`` (disparity or 1/metres give the same
result). A data set's figure is the mean of its per-image figures.
"""
from __future__ import annotations

import torch

from .losses import align_scale_shift, apply_alignment


def depth_metrics(pred: torch.Tensor, gt_inv: torch.Tensor, valid: torch.Tensor | None = None) -> dict[str, float]:
    """AbsRel and delta<1.25 of one prediction (see the module docstring).

    Args:
        pred: ``[1 x] H x W`` predicted relative inverse depth.
        gt_inv: ``[1 x] H x W`` ground-truth inverse depth (> 0 where valid).
        valid: ``[1 x] H x W`` bool mask; default ``gt_inv > 0``.
    Returns:
        ``{"absrel": ..., "delta1": ...}`` (``nan`` when there is no valid pixel).
    """
    p = pred.detach().reshape(1, -1).to(torch.float64).cpu()
    g = gt_inv.detach().reshape(1, -1).to(torch.float64).cpu()
    m = (g > 0) if valid is None else (valid.detach().reshape(1, -1).cpu().bool() & (g > 0))
    if int(m.sum()) == 0:
        return {"absrel": float("nan"), "delta1": float("nan")}
    s, t = align_scale_shift(p, g, m)
    a = apply_alignment(p, s, t)
    gv = g[m]
    floor = gv.min()
    av = a[m].clamp_min(floor)
    d_pred, d_gt = 1.0 / av, 1.0 / gv
    absrel = ((d_pred - d_gt).abs() / d_gt).mean()
    ratio = torch.maximum(d_pred / d_gt, d_gt / d_pred)
    delta1 = (ratio < 1.25).to(torch.float64).mean()
    return {"absrel": float(absrel), "delta1": float(delta1)}
