"""SVKR speed (a benchmark, not a test): seconds for a 128x128 -> 512x512 upscale.

Prints a markdown table with the median wall time over runs for SVKR at T = 1 and T = 3
(shipped weights, whole image, no tiling), its parts (depth, DKENet, non-blind SR), and
Real-ESRGAN x4plus (ncnn) on the same input when the optional extra is installed.

    python benchmarks/svkr_speed.py [--runs 5] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import platform

import torch

from timing import median_time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=128, help="LR side")
    ap.add_argument("--weights", help="pipeline folder (default: shipped)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ssr.models.nonblind import bicubic_up
    from ssr.pipeline import SSRPipeline

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    pipe = SSRPipeline.from_pretrained(args.weights, device=args.device)
    svkr = pipe.svkr
    lr = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(args.device)
    sr0 = bicubic_up(lr, svkr.scale).clamp(0, 1)
    with torch.no_grad():
        depth = svkr.depth.estimate(sr0)
        k = svkr.dkenet(lr, depth)
        rows = [
            ("depth estimate of the 512x512 SR", median_time(lambda: svkr.depth.estimate(sr0), args.runs, sync)),
            ("DKENet (128x128 LR -> 441 taps per pixel)", median_time(lambda: svkr.dkenet(lr, depth), args.runs, sync)),
            ("non-blind SR (128x128 -> 512x512)", median_time(lambda: svkr.nonblind(lr, k), args.runs, sync)),
        ]
    for t in (1, 3):
        rows.append((f"SVKR, T = {t} (whole pipeline call)",
                     median_time(lambda: pipe(lr, svkr_rounds=t, diffusion=False), args.runs, sync)))
    try:
        from ssr.eval.methods import get_method

        resr = get_method("realesrgan")
        rows.append(("Real-ESRGAN x4plus (ncnn, same input)", median_time(lambda: resr(lr.cpu(), 4), max(1, args.runs // 2),
                                                                          lambda: None)))
    except Exception as exc:  # noqa: BLE001 - optional peer
        rows.append((f"Real-ESRGAN x4plus: not run ({exc})", float("nan")))
    dev = args.device if args.device != "cpu" else f"cpu, {args.threads} threads"
    print(f"SVKR speed, {args.size}x{args.size} -> {args.size * 4}x{args.size * 4} "
          f"({platform.machine()}, {dev}, torch {torch.__version__})\n")
    print("| step | median seconds |")
    print("|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec:.3f} |")


if __name__ == "__main__":
    main()
