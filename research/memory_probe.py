"""Peak resident memory of the default pipeline by phase on one synthetic picture (a probe).

Samples the process's RSS every 50 ms, labelled by the SVKR phase it is in (depth input, each
round's tiled pass, the PNG write), and prints the peaks and the process's ``ru_maxrss`` (the
sampled peaks can miss short spikes; ``ru_maxrss`` cannot). ``--strip`` overrides the RRDB
tail's strip size (LR pixels) to see what it costs.

    python research/memory_probe.py --size 256x3000 [--tile 256] [--strip 4096] [--threads 1]
"""
from __future__ import annotations

import argparse
import resource
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256x3000", help="LR picture HxW")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--strip", type=int, help="RRDBNet.tail_strip_pixels")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    import ssr.models.rrdbnet as rr
    import ssr.svkr as sv
    from ssr.io import write_image
    from ssr.pipeline import SSRPipeline
    from ssr.tiling import fixed_mmap_threshold

    fixed_mmap_threshold()
    if args.strip:
        rr.RRDBNet.tail_strip_pixels = args.strip
    phase, peaks, count = ["load"], {}, [0]

    def rss() -> float:
        with open("/proc/self/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) / 1e6

    def sample() -> None:
        while True:
            peaks[phase[0]] = max(peaks.get(phase[0], 0.0), rss())
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    real_tiled, real_depth = sv.run_tiled, sv.SVKR._depth_input

    def tiled(*a, **k):
        count[0] += 1
        phase[0] = f"round pass {count[0]}"
        return real_tiled(*a, **k)

    def depth_input(self, *a, **k):
        phase[0] = f"depth input {count[0] + 1}"
        return real_depth(self, *a, **k)

    sv.run_tiled, sv.SVKR._depth_input = tiled, depth_input
    pipe = SSRPipeline.from_pretrained(load_diffusion=False)
    h, w = (int(v) for v in args.size.lower().split("x"))
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)), 3, 1, 1)
    with torch.no_grad():
        out = pipe(x, tile=args.tile, output_dtype=torch.uint8)
    phase[0] = "write"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_image(f"{tmp}/out.png", out.image[0])
    phase[0] = "end"
    time.sleep(0.2)
    for k, v in peaks.items():
        print(f"{k:16s} {v:.3f} GB")
    print(f"ru_maxrss         {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.3f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
