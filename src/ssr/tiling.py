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


class Store:
    """Where :func:`run_tiled` puts one full-size output, row band by row band.

    ``dtype`` ``torch.float32`` (the default) keeps the blended values; ``torch.float16`` halves
    the memory; ``torch.uint8`` / ``torch.uint16`` quantise values in [0, 1] to 8 / 16 bits
    (rounded, clipped) as they arrive, so a picture is never held in float32 at full size. The
    tensor of an integer store is allocated channels-last (``B x C x H x W`` over ``B x H x W x C``
    memory): picture ``i`` as ``H x W x C`` is then one contiguous block for an image encoder.
    """

    PEAK = {torch.uint8: 255.0, torch.uint16: 65535.0}

    def __init__(self, dtype: torch.dtype = torch.float32, reuse: torch.Tensor | None = None):
        self.dtype = dtype
        self.tensor: torch.Tensor | None = None
        #: a tensor to write into instead of allocating one, when its shape and dtype fit: an
        #: input of the same :func:`run_tiled` call may be overwritten in place, since rows are
        #: put only once no later tile reads them (SVKR's rounds keep one SR picture this way)
        self.reuse = reuse

    def allocate(self, b: int, c: int, h: int, w: int, device) -> None:
        r = self.reuse
        if r is not None and r.dtype == self.dtype and tuple(r.shape) == (b, c, h, w) and r.device == torch.device(device):
            self.tensor = r
            return
        if self.dtype in self.PEAK:
            self.tensor = torch.empty(b, h, w, c, dtype=self.dtype, device=device).permute(0, 3, 1, 2)
        else:
            self.tensor = torch.empty(b, c, h, w, dtype=self.dtype, device=device)

    def put(self, y0: int, block: torch.Tensor, x0: int = 0) -> None:
        """Write ``block`` (``B x C x rows x cols``, float) at rows ``y0 ..``, columns ``x0 ..``."""
        peak = self.PEAK.get(self.dtype)
        if peak is not None:
            block = (block * peak).round_().clamp_(0, peak)
        self.tensor[..., y0:y0 + block.shape[-2], x0:x0 + block.shape[-1]] = block.to(self.dtype)


def stored(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` (float, in [0, 1]) as a :class:`Store` of ``dtype`` holds it (quantised for integers)."""
    st = Store(dtype)
    st.allocate(*x.shape, x.device)
    st.put(0, x)
    return st.tensor


def as_float(t: torch.Tensor) -> torch.Tensor:
    """A tile of a :class:`Store` tensor as float32 in [0, 1] (integer stores are rescaled)."""
    peak = Store.PEAK.get(t.dtype)
    return t.float() / peak if peak is not None else t.float()


def run_tiled(
    fn: Callable[..., Sequence[torch.Tensor] | torch.Tensor],
    inputs: Sequence[torch.Tensor],
    tile: int | None,
    overlap: int = 16,
    stores: Sequence[Store | None] | None = None,
) -> list[torch.Tensor]:
    """Apply ``fn(*input_tiles)`` tile by tile and blend the outputs.

    Tiles run row by row; after each tile, the block of its output that no later tile reaches
    is blended and handed to its :class:`Store`. Besides the stores, only the sums over the rows
    one tile row shares with the next (full width) and over the columns one tile shares with the
    next are held in float32: neither the whole picture nor a band of tile rows ever is.

    Args:
        fn: takes tiles of every input and returns one tensor or a sequence of tensors, each
            ``B x C x (f t) x (f t)`` for an integer ``f``.
        inputs: ``B x C_i x h x w`` tensors on the LR grid of the first one, or at an integer
            multiple of it (``B x C_i x (g h) x (g w)``: its tiles are cut at ``g`` times the
            LR offsets, e.g. the previous round's SR picture).
        tile: tile side at LR resolution (``None`` or >= the image: one call, no tiling).
        overlap: overlap between neighbouring tiles at LR resolution.
        stores: one per output (``None`` entries, or no list: float32 tensors).

    Returns:
        The blended outputs, full size, on the inputs' device (the stores' tensors).
    """
    h, w = inputs[0].shape[-2:]
    gains = [t.shape[-1] // w for t in inputs]
    if tile is None or (tile >= h and tile >= w):
        outs = fn(*inputs)
        outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
        _done()
        if stores is None:
            return outs
        result = []
        for o, st in zip(outs, list(stores) + [None] * len(outs)):
            result.append(o if st is None or st.dtype == o.dtype else stored(o, st.dtype))
        return result
    tile = max(8, int(tile))
    overlap = max(0, min(int(overlap), tile // 2))
    (ys, th_), (xs, tw_) = tile_layout(h, tile, overlap), tile_layout(w, tile, overlap)
    ty, tx = _Axis(ys, th_, h), _Axis(xs, tw_, w)
    factors: list[int] = []
    sinks: list[Store] = []
    carry: list[torch.Tensor] = []  # sums over the rows a tile row shares with the next, full width
    for iy, y in enumerate(ys):
        th, y_end = ty.length(iy), ty.final_end(iy)
        right: list[torch.Tensor | None] = []  # sums over the columns a tile shares with the next
        for ix, x in enumerate(xs):
            tw, x_end = tx.length(ix), tx.final_end(ix)
            outs = fn(*[t[..., y * g:(y + th) * g, x * g:(x + tw) * g] for t, g in zip(inputs, gains)])
            outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
            if not factors:
                factors = [o.shape[-1] // tw for o in outs]
                sinks = [st or Store() for st in (list(stores or []) + [None] * len(outs))[:len(outs)]]
                for o, f, st in zip(outs, factors, sinks):
                    st.allocate(o.shape[0], o.shape[1], h * f, w * f, o.device)
                carry = [torch.zeros(o.shape[0], o.shape[1], ty.max_shared() * f, w * f, device=o.device)
                         for o, f in zip(outs, factors)]
                norms = [(ty.norm(f, o.device), tx.norm(f, o.device)) for o, f in zip(outs, factors)]
            if not right:
                right = [None] * len(outs)
            top, left = ty.shared_before(iy), tx.shared_before(ix)
            for k, (o, f, st, (ny, nx)) in enumerate(zip(outs, factors, sinks, norms)):
                acc = o.float() * (ty.ramp(iy, f, o.device)[:, None] * tx.ramp(ix, f, o.device)[None, :])
                if right[k] is not None:  # the previous tile's share (it holds the carry there)
                    acc[..., :left * f] += right[k]
                if top:
                    acc[..., :top * f, left * f:] += carry[k][..., :top * f, (x + left) * f:(x + tw) * f]
                r, c = (y_end - y) * f, (x_end - x) * f
                # rows [y, y_end) x columns [x, x_end) are final: no later tile reaches them
                st.put(y * f, acc[..., :r, :c] / (ny[y * f:y_end * f, None] * nx[None, x * f:x_end * f]), x * f)
                carry[k][..., :(y + th - y_end) * f, x * f:x_end * f] = acc[..., r:, :c]
                right[k] = acc[..., c:].clone() if c < tw * f else None
            _done()
    return [st.tensor for st in sinks]


class _Axis:
    """The tiles of :func:`run_tiled` along one axis: starts, lengths, ramps and the blending
    weights' sum (the weights are a product of one ramp per axis over a full grid of tiles, so
    their sum at a pixel is the product of the two axes' sums: no 2-D normaliser is held)."""

    def __init__(self, starts: list[int], length: int, size: int):
        self.starts, self.full, self.size = starts, length, size

    def length(self, i: int) -> int:
        return min(self.full, self.size - self.starts[i])

    def shared_before(self, i: int) -> int:
        """Samples tile ``i`` shares with tile ``i - 1`` (0 for the first)."""
        return max(0, self.starts[i - 1] + self.full - self.starts[i]) if i else 0

    def final_end(self, i: int) -> int:
        """End of the samples of tile ``i`` that no later tile reaches."""
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.size

    def max_shared(self) -> int:
        return max([self.shared_before(i) for i in range(len(self.starts))] + [0])

    def ramp(self, i: int, f: int, device) -> torch.Tensor:
        """Blending weights of tile ``i`` at ``f`` output samples per LR sample."""
        after = self.starts[i] + self.length(i) - self.final_end(i)
        return _ramp(self.length(i) * f, self.shared_before(i) * f, after * f, device)

    def norm(self, f: int, device) -> torch.Tensor:
        """Sum of all tiles' ramps at every output sample (``size * f``)."""
        n = torch.zeros(self.size * f, device=device)
        for i, s in enumerate(self.starts):
            n[s * f:(s + self.length(i)) * f] += self.ramp(i, f, device)
        return n
