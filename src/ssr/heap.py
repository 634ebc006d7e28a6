"""The C heap of the process (glibc): pinning the mmap threshold and trimming, without torch
(the command line pins the threshold before it loads anything heavy)."""
from __future__ import annotations

import functools

#: glibc's M_MMAP_THRESHOLD: allocations above it get their own pages, returned when freed
MMAP_THRESHOLD = 4 << 20


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc, loaded once (``find_library`` runs a subprocess: not for every SVKR round), or ``None``."""
    import ctypes
    import ctypes.util

    try:
        name = ctypes.util.find_library("c")
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def fixed_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold (once per process; the CLI and :class:`ssr.SSRPipeline` call it).
    By default glibc raises it each time a large block is freed, so the next tiles' large
    tensors come from the heap, whose freed pages are not returned: measured
    (benchmarks/memory_bench.py, 256^2 input, one tile), peak RSS 2.6-3.3 GB instead of 1.0 GB.
    Returns whether it applied (glibc only)."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(-3, MMAP_THRESHOLD))  # -3: M_MMAP_THRESHOLD
    except AttributeError:
        return False


def trim_heap() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``). Building the
    prior-backed network frees two generators' worth of small weight tensors in the middle of the
    heap, which stay resident otherwise (``research/memory_probe.py`` shows the peaks by phase).
    Returns whether it applied (glibc only)."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.malloc_trim(0))
    except AttributeError:
        return False
