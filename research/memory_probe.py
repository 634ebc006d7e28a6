"""Peak resident memory of the default pipeline by phase on one synthetic picture (a probe).

Samples the process's RSS every 50 ms, labelled by the SVKR phase it is in (depth input, each
round's tiled pass, the PNG write), and prints the peaks and the process's ``ru_maxrss`` (the
sampled peaks can miss short spikes; ``ru_maxrss`` cannot). ``--strip`` overrides the RRDB
tail's strip size (LR pixels) to see what it costs. ``--stub`` replaces DKENet and the two SR
networks by cheap stand-ins with outputs of the right shapes (uniform mixture weights, bicubic
SR): what is left is the memory that grows with the picture (stores, bands, depth, copies),
measured in a minute or two at 2000x3000 instead of half an hour.

    python research/memory_probe.py --size 256x3000 [--tile 256] [--strip 4096] [--threads 1] [--stub]
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
    ap.add_argument("--stub", action="store_true", help="cheap stand-ins for DKENet and the SR networks")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    import ssr.models.rrdbnet as rr
    import ssr.svkr as sv
    from ssr.io import write_image
    from ssr.pipeline import SSRPipeline
    from ssr.heap import fixed_mmap_threshold

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
    if args.stub:
        _stub_networks(pipe)
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


def _stub_networks(pipe) -> None:
    """Replace DKENet's head and the forward passes of both SR networks by stand-ins."""
    import torch

    from ssr.models.dkenet import KernelMixture
    from ssr.models.nonblind import bicubic_up

    net = pipe.svkr.dkenet
    atoms = net.atom_kernels if net.head_kind == "atoms" else None
    n = atoms.shape[0] if atoms is not None else net.kernel_size ** 2

    def mixture(lr, *_):
        return KernelMixture(torch.full((lr.shape[0], n, *lr.shape[-2:]), 1.0 / n), atoms)

    net.mixture = mixture
    pipe.svkr.nonblind.forward = lambda lr, codes=None, **_: bicubic_up(lr.float(), pipe.svkr.scale)
    real_net = pipe.priors.net

    def prior_net(realism):
        m = real_net(realism)
        m.forward = lambda lr, codes, depth: bicubic_up(lr.float(), 4)
        return m

    pipe.priors.net = prior_net


if __name__ == "__main__":
    sys.exit(main())
