"""Scale-and-shift invariant losses in inverse-depth space (MiDaS style).

A monocular network can only know inverse depth up to an unknown scale and shift, so each
prediction is first aligned to its target by least squares over the valid pixels
(:func:`align_scale_shift`), then compared:

* :func:`ssi_mae`: mean absolute error of the aligned prediction over valid pixels;
* :func:`aligned_absrel`: the evaluation metric itself made a loss: mean ``|g / a - 1|`` (depth-
  space relative error) of the aligned prediction ``a`` against the raw (positive) target inverse
  depth ``g``, ``a`` clamped from below to the farthest target point, as
  :func:`ssr.depth.metrics.depth_metrics` does;
* :func:`gradient_matching`: at ``scales`` resolutions (sub-sampling by 1, 2, 4, 8), the mean
  absolute horizontal and vertical finite differences of the residual
  ``aligned - target`` over pairs of valid pixels; it rewards sharp, correctly placed depth
  edges without asking for correct absolute values.

Targets are expected normalised per image (see :func:`normalize_target`) so every image weighs
the same in a batch.
"""
from __future__ import annotations

import torch


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                      min_scale: float | None = None, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image least-squares ``(s, t)`` minimising ``sum_mask (s * pred + t - target)^2``.

    Args:
        pred, target: ``B x 1 x H x W`` (or ``B x H x W``).
        mask: valid pixels (bool or 0/1), same shape; ``None`` = all valid.
        min_scale: if set, ``s`` is clamped from below (training uses a tiny positive value so a
            sign-flipped prediction is never rewarded and still receives a gradient).
    Returns:
        ``s``, ``t`` of shape ``B`` (float64; sums are accumulated in float64). An image with
        fewer than two valid pixels, or a prediction whose variance over the valid pixels is
        below ``eps``, gets ``s = 0`` and ``t`` = mean of the valid target.
    """
    b = pred.shape[0]
    p = pred.reshape(b, -1).to(torch.float64)
    g = target.reshape(b, -1).to(torch.float64)
    m = torch.ones_like(p) if mask is None else mask.reshape(b, -1).to(p.dtype)
    a00 = (m * p * p).sum(1)
    a01 = (m * p).sum(1)
    a11 = m.sum(1)
    b0 = (m * p * g).sum(1)
    b1 = (m * g).sum(1)
    det = a00 * a11 - a01 * a01
    ok = (det > eps * a11.clamp_min(1) ** 2) & (a11 >= 2)
    safe = torch.where(ok, det, torch.ones_like(det))
    s = torch.where(ok, (a11 * b0 - a01 * b1) / safe, torch.zeros_like(det))
    t = torch.where(ok, (a00 * b1 - a01 * b0) / safe, b1 / a11.clamp_min(1))
    if min_scale is not None:
        s_c = s.clamp_min(min_scale)
        # keep the shift optimal for the clamped scale
        t = torch.where(s_c != s, (b1 - s_c * a01) / a11.clamp_min(1), t)
        s = s_c
    return s, t


def apply_alignment(pred: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``s * pred + t`` with per-image ``s``, ``t`` (shape ``B``)."""
    shape = (-1,) + (1,) * (pred.dim() - 1)
    return s.view(shape).to(pred.dtype) * pred + t.view(shape).to(pred.dtype)


def normalize_target(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Shift and scale each target map to median 0 and mean absolute deviation 1 over its valid
    pixels (invalid pixels are set to 0)."""
    b = target.shape[0]
    out = torch.zeros_like(target)
    for i in range(b):
        v = target[i][mask[i]]
        if v.numel() < 2:
            continue
        med = v.median()
        mad = (v - med).abs().mean().clamp_min(1e-6)
        out[i] = torch.where(mask[i], (target[i] - med) / mad, torch.zeros_like(target[i]))
    return out


def ssi_mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
            min_scale: float | None = 1e-3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scale-and-shift invariant mean absolute error.

    Returns ``(loss, aligned, s)``: the loss averaged over images (each image's mean over its
    valid pixels), the aligned prediction and the per-image scales.
    """
    s, t = align_scale_shift(pred, target, mask, min_scale=min_scale)
    aligned = apply_alignment(pred, s, t)
    m = mask.to(pred.dtype)
    per = ((aligned - target).abs() * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return per.mean(), aligned, s


def aligned_absrel(pred: torch.Tensor, inv: torch.Tensor, mask: torch.Tensor,
                   min_scale: float | None = 1e-3) -> torch.Tensor:
    """AbsRel of the least-squares aligned prediction, averaged over images (differentiable).

    Args:
        pred: ``B x 1 x H x W`` raw prediction (relative inverse depth, any scale and shift).
        inv: ``B x 1 x H x W`` target inverse depth, > 0 where ``mask`` (any per-image scale).
        mask: valid pixels.
    With ``a = s * pred + t`` aligned to ``inv`` in inverse-depth space (:func:`align_scale_shift`)
    and ``a' = max(a, min(inv))``: ``mean_valid |1 / a' - 1 / inv| * inv = mean_valid |inv / a' - 1|``.
    """
    m = mask & (inv > 0)
    s, t = align_scale_shift(pred, inv, m, min_scale=min_scale)
    a = apply_alignment(pred, s, t)
    big = torch.finfo(inv.dtype).max
    floor = torch.where(m, inv, torch.full_like(inv, big)).flatten(1).amin(1).clamp_min(1e-6)
    a = torch.maximum(a, floor.view(-1, 1, 1, 1).to(a.dtype))
    mf = m.to(pred.dtype)
    err = ((inv / a - 1).abs() * mf).flatten(1).sum(1) / mf.flatten(1).sum(1).clamp_min(1)
    return err.mean()


def gradient_matching(aligned: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient matching loss on the residual ``aligned - target`` (see module
    docstring); each scale's sum is divided by its number of valid pixel pairs."""
    total = aligned.new_zeros(())
    m_all = mask.to(aligned.dtype)
    r_all = (aligned - target) * m_all
    for k in range(scales):
        step = 2 ** k
        r = r_all[..., ::step, ::step]
        m = m_all[..., ::step, ::step]
        mx = m[..., :, 1:] * m[..., :, :-1]
        my = m[..., 1:, :] * m[..., :-1, :]
        gx = (r[..., :, 1:] - r[..., :, :-1]).abs() * mx
        gy = (r[..., 1:, :] - r[..., :-1, :]).abs() * my
        total = total + (gx.sum() + gy.sum()) / (mx.sum() + my.sum()).clamp_min(1)
    return total / scales
