"""Synthetic depth maps for when no depth is supplied.

Convention (shared with :mod:`ssr.depth`): relative *inverse* depth in [0, 1], 1 = nearest.
In inverse-depth space the thin-lens circle of confusion is proportional to
``|d - d_focus|``, which is what :func:`ssr.degradation.fields.depth_informed_field` uses.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .random import choice, smooth_noise, uniform, uniform_float

KINDS = ("smooth", "planar", "layered")


def planar_depth(gen: torch.Generator | None, b: int, h: int, w: int, device=None) -> torch.Tensor:
    """A tilted plane (ground-plane-like ramp) in a random direction, ``B x 1 x h x w``."""
    out = []
    yy = torch.linspace(-1, 1, h, device=device).view(h, 1)
    xx = torch.linspace(-1, 1, w, device=device).view(1, w)
    for _ in range(b):
        # mostly "nearer towards the bottom", as in most photos, but any direction occurs
        phi = math.pi / 2 + uniform_float(gen, -1.0, 1.0) * math.pi * 0.6
        ramp = math.cos(phi) * xx + math.sin(phi) * yy
        ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min()).clamp_min(1e-6)
        lo = uniform_float(gen, 0.0, 0.4)
        hi = uniform_float(gen, 0.6, 1.0)
        gamma = math.exp(uniform_float(gen, -0.7, 0.7))
        out.append(lo + (hi - lo) * ramp.pow(gamma))
    return torch.stack(out).unsqueeze(1)


def layered_depth(gen: torch.Generator | None, b: int, h: int, w: int, device=None) -> torch.Tensor:
    """A background (plane or smooth) with 1-3 foreground layers of constant depth and sharp
    (anti-aliased) boundaries, ``B x 1 x h x w``."""
    base = 0.6 * planar_depth(gen, b, h, w, device) if uniform_float(gen, 0, 1) < 0.5 else \
        0.6 * smooth_noise(gen, (b, h, w), cells=2.0, device=device).unsqueeze(1)
    for i in range(b):
        n_layers = int(choice(gen, (1, 2, 3)))
        for _ in range(n_layers):
            mask = smooth_noise(gen, (1, h, w), cells=uniform_float(gen, 1.5, 4.0), device=device)[0]
            thr = uniform_float(gen, 0.55, 0.85)
            soft = ((mask - thr) * 40).sigmoid()
            level = uniform_float(gen, 0.5, 1.0)
            base[i, 0] = base[i, 0] * (1 - soft) + level * soft
    return base.clamp(0, 1)


def random_depth(
    gen: torch.Generator | None,
    b: int,
    h: int,
    w: int,
    kind: str | None = None,
    device=None,
) -> tuple[torch.Tensor, str]:
    """Draw a synthetic depth map of the given kind (or a random kind).

    Returns:
        ``(depth B x 1 x h x w in [0, 1], kind)``.
    """
    kind = kind or choice(gen, KINDS)
    if kind == "smooth":
        d = smooth_noise(gen, (b, h, w), cells=uniform_float(gen, 1.0, 3.0), device=device).unsqueeze(1)
    elif kind == "planar":
        d = planar_depth(gen, b, h, w, device)
    elif kind == "layered":
        d = layered_depth(gen, b, h, w, device)
    else:
        raise ValueError(f"unknown synthetic depth kind {kind!r}; choose from {KINDS}")
    return d.clamp(0, 1), kind


def to_resolution(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a ``B x C x H x W`` map (depth, codes, images): area when shrinking, bilinear otherwise."""
    if tuple(depth.shape[-2:]) == tuple(size):
        return depth
    if size[0] <= depth.shape[-2] and size[1] <= depth.shape[-1]:
        return F.interpolate(depth, size=size, mode="area")
    return F.interpolate(depth, size=size, mode="bilinear", align_corners=False)


__all__ = ["KINDS", "planar_depth", "layered_depth", "random_depth", "to_resolution", "uniform"]
