"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""
from __future__ import annotations

import platform
import statistics
import time


def median_time(fn, runs: int, sync=lambda: None) -> float:
    """Median wall time of ``fn()`` over ``runs`` calls after one warm-up call (``sync`` waits
    for asynchronous devices, e.g. ``torch.cuda.synchronize``)."""
    fn()
    sync()
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
