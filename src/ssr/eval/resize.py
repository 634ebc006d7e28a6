"""MATLAB-compatible ``imresize`` (bicubic), in torch.

MATLAB's ``imresize(im, scale)`` with the default ``'bicubic'`` method is the convention behind
the field's reference numbers (NIQE's second scale, "bicubic" baselines in SR papers). It
differs from ``torch.nn.functional.interpolate(mode='bicubic')`` in three ways:

* the cubic kernel uses ``a = -0.5`` (Keys), not ``a = -0.75``;
* when shrinking (``scale < 1``) the kernel is stretched by ``1 / scale`` and scaled by
  ``scale`` (antialiasing), so every output pixel averages all the input pixels it covers;
* borders are handled by symmetric (half-sample) reflection of the input indices, and the
  weights of each output pixel are normalised to sum to one.

For output pixel ``x`` (1-based) the source coordinate is ``u = x / s + 0.5 (1 - 1 / s)``; the
taps are the input pixels ``floor(u - w / 2) + 0 .. ceil(w) + 1`` where ``w`` is the kernel width
(4, or ``4 / s`` when antialiasing). The dimension with the smaller factor is resized first,
the height first when they are equal (MATLAB's order). Values are not rounded or clipped
(as MATLAB with ``double`` input).
"""
from __future__ import annotations

import math

import torch

__all__ = ["cubic", "imresize", "resize_weights"]


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_weights(
    in_len: int, out_len: int, scale: float, antialias: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Taps of a 1-D MATLAB bicubic resize.

    Returns:
        ``(weights, indices)``, both ``out_len x P`` (float64 and int64): output pixel ``i`` is
        ``sum_p weights[i, p] * input[indices[i, p]]`` (0-based indices, already reflected).
    """
    width = 4.0
    if scale < 1 and antialias:
        width = width / scale

        def kernel(t: torch.Tensor) -> torch.Tensor:
            return scale * cubic(scale * t)
    else:
        kernel = cubic
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # 1-based
    w = kernel(u[:, None] - idx)
    w = w / w.sum(dim=1, keepdim=True)
    # drop tap columns that are zero for every output pixel (as MATLAB does)
    keep = (w != 0).any(dim=0)
    w, idx = w[:, keep], idx[:, keep]
    # symmetric reflection: 1..n, n..1, 1..n, ...
    aux = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    idx0 = aux[torch.remainder(idx.long() - 1, 2 * in_len)]
    return w, idx0


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    w, idx = resize_weights(x.shape[dim], out_len, scale, antialias)
    w = w.to(x.dtype)
    xt = x.movedim(dim, -1)  # ... x L
    gathered = xt[..., idx]  # ... x out x P
    out = (gathered * w).sum(-1)
    return out.movedim(-1, dim)


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize like MATLAB's ``imresize(x, scale)`` / ``imresize(x, [h w])`` with ``'bicubic'``.

    Args:
        x: ``... x H x W`` tensor (any value range; float64 recommended for exactness).
        scale: one factor for both sides (output side ``ceil(scale * side)``), or
        size: ``(h, w)`` of the output (the factors are then ``h / H`` and ``w / W``).
        antialias: stretch the kernel when shrinking (MATLAB's default ``true``).

    Returns:
        ``... x h x w`` tensor of the input's floating dtype (integer inputs become float64);
        not rounded, not clipped.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if x.dim() < 2:
        raise ValueError(f"x must be ... x H x W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    H, W = x.shape[-2:]
    if size is None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        size = (int(math.ceil(H * scale)), int(math.ceil(W * scale)))
        sh = sw = float(scale)
    else:
        sh, sw = size[0] / H, size[1] / W
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"output size {size} is empty")
    steps = [(x.dim() - 2, size[0], sh), (x.dim() - 1, size[1], sw)]
    if sw < sh:  # MATLAB resizes the dimension with the smaller factor first
        steps.reverse()
    for dim, n, s in steps:
        x = _resize_dim(x, dim, n, s, antialias)
    return x
