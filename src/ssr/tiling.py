"""Tiled processing with overlap blending, so memory stays bounded on any image size.

:func:`run_tiled` cuts LR-resolution inputs into overlapping tiles, runs a function on each,
and blends every output with weights that ramp linearly across the overlaps, so no seam shows.
A network's result near a tile edge differs from the untiled one only within its receptive
field, so an overlap of a few tens of LR pixels makes tiled and untiled results agree closely.
Outputs may be at LR resolution or at an integer multiple of it; the factor is read off the
first tile's output.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, Sequence

import torch

#: called once per finished tile (and once per untiled call) by :func:`run_tiled`
_TILE_DONE: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("ssr_tile_done", default=None)


@contextlib.contextmanager
def tile_progress(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, every tile :func:`run_tiled` finishes calls ``callback()`` (a progress
    bar over the tiles of one large picture, a web page's progress)."""
    token = _TILE_DONE.set(callback)
    try:
        yield
    finally:
        _TILE_DONE.reset(token)


def count_tiles(h: int, w: int, tile: int | None, overlap: int = 16) -> int:
    """How many tiles :func:`run_tiled` cuts an ``h x w`` input into."""
    if tile is None or (tile >= h and tile >= w):
        return 1
    tile = max(8, int(tile))
    overlap = max(0, min(int(overlap), tile // 2))
    return len(tile_layout(h, tile, overlap)[0]) * len(tile_layout(w, tile, overlap)[0])


def _done() -> None:
    cb = _TILE_DONE.get()
    if cb is not None:
        cb()


def tile_layout(size: int, tile: int, overlap: int, align: int = 8) -> tuple[list[int], int]:
    """``(starts, length)`` of the tiles covering ``[0, size)``: the fewest tiles of at most
    ``tile`` samples that overlap by at least ``overlap``, spread evenly and shortened to what
    that needs, rounded up to a multiple of ``align`` (networks that pad to a size multiple then
    see no padding inside the picture). The last tile no longer overlaps its neighbour by up to
    a whole tile, which cost up to 1.6x the untiled work at the default tile."""
    if tile >= size:
        return [0], size
    n = -(-(size - overlap) // max(1, tile - overlap))  # ceil
    length = -(-(size + (n - 1) * overlap) // n)
    length = min(tile, -(-length // align) * align)
    while True:
        starts = [round(i * (size - length) / (n - 1)) for i in range(n)] if n > 1 else [0]
        if n == 1 or all(a + length - b >= overlap for a, b in zip(starts, starts[1:])) or length >= tile:
            return starts, length
        length += 1  # rounding of the starts ate into an overlap


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles of :func:`tile_layout`."""
    return tile_layout(size, tile, overlap)[0]


def _ramp(n: int, lo_overlap: int, hi_overlap: int, device) -> torch.Tensor:
    """1-D blending weights: rises over the first ``lo_overlap`` and falls over the last
    ``hi_overlap`` samples, 1 in between (never exactly 0)."""
    w = torch.ones(n, device=device)
    if lo_overlap > 0:
        w[:lo_overlap] = torch.linspace(0, 1, lo_overlap + 2, device=device)[1:-1]
    if hi_overlap > 0:
        w[n - hi_overlap:] = torch.minimum(w[n - hi_overlap:], torch.linspace(1, 0, hi_overlap + 2, device=device)[1:-1])
    return w


def run_tiled(
    fn: Callable[..., Sequence[torch.Tensor] | torch.Tensor],
    inputs: Sequence[torch.Tensor],
    tile: int | None,
    overlap: int = 16,
) -> list[torch.Tensor]:
    """Apply ``fn(*input_tiles)`` tile by tile and blend the outputs.

    Args:
        fn: takes tiles of every input (``B x C_i x t x t`` at LR resolution) and returns one
            tensor or a sequence of tensors, each ``B x C x (f t) x (f t)`` for an integer ``f``.
        inputs: LR-resolution tensors ``B x C_i x h x w`` (same ``h x w``).
        tile: tile side at LR resolution (``None`` or >= the image: one call, no tiling).
        overlap: overlap between neighbouring tiles at LR resolution.

    Returns:
        The blended outputs, full size, on the inputs' device.
    """
    h, w = inputs[0].shape[-2:]
    if tile is None or (tile >= h and tile >= w):
        out = fn(*inputs)
        _done()
        return [out] if isinstance(out, torch.Tensor) else list(out)
    tile = max(8, int(tile))
    overlap = max(0, min(int(overlap), tile // 2))
    (ys, th_), (xs, tw_) = tile_layout(h, tile, overlap), tile_layout(w, tile, overlap)
    acc: list[torch.Tensor] | None = None
    norm: list[torch.Tensor] | None = None
    factors: list[int] = []
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            th, tw = min(th_, h - y), min(tw_, w - x)
            outs = fn(*[t[..., y:y + th, x:x + tw] for t in inputs])
            outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
            if acc is None:
                factors = [o.shape[-1] // tw for o in outs]
                acc = [o.new_zeros(o.shape[0], o.shape[1], h * f, w * f) for o, f in zip(outs, factors)]
                norm = [o.new_zeros(1, 1, h * f, w * f) for o, f in zip(outs, factors)]
            # overlap actually shared with the previous / next tile on each axis
            top = (ys[iy - 1] + th_ - y) if iy > 0 else 0
            bottom = (y + th - ys[iy + 1]) if iy + 1 < len(ys) else 0
            left = (xs[ix - 1] + tw_ - x) if ix > 0 else 0
            right = (x + tw - xs[ix + 1]) if ix + 1 < len(xs) else 0
            for o, f, a, n in zip(outs, factors, acc, norm):
                wy = _ramp(th * f, max(0, top) * f, max(0, bottom) * f, o.device)
                wx = _ramp(tw * f, max(0, left) * f, max(0, right) * f, o.device)
                wt = (wy[:, None] * wx[None, :]).to(o.dtype)
                a[..., y * f:(y + th) * f, x * f:(x + tw) * f] += o * wt
                n[..., y * f:(y + th) * f, x * f:(x + tw) * f] += wt
            _done()
    return [a / n for a, n in zip(acc, norm)]
