"""How much each SVKR refinement round changes things (a benchmark, not a test).

For every ``--every``-th RealSR LR picture, runs SVKR with T = 3 and prints, for rounds 2 and 3
against round 1: the mean absolute change of the depth map (depth is in [0, 1]), the relative
change of the kernel codes (mean |c_t - c_1| / mean |c_1|) and the RMS change of the SR picture
in 8-bit grey levels. If these are tiny, T = 3 cannot differ from T = 1 in PSNR. Also prints
PSNR-Y (4-pixel border) against the HR picture for T = 1 and T = 3 on the same pictures.
``--depth-size`` overrides the long side the built-in depth network sees (default: its own).

    python research/round_probe.py [--weights DIR] [--every 20] [--threads 2] [--depth-size 512]
"""
from __future__ import annotations

import argparse
import statistics

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="pipeline folder (default: shipped)")
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--depth-size", type=int, help="internal size of the built-in depth network")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ssr.eval.datasets import parse_spec
    from ssr.eval.metrics import psnr
    from ssr.io import list_images, load_rgb
    from ssr.pipeline import SSRPipeline

    svkr = SSRPipeline.from_pretrained(args.weights, device="cpu").svkr
    if args.depth_size:
        svkr.depth.internal_size = args.depth_size
    root = parse_spec("realsr").path
    rows = []
    print("| picture | depth change r2 / r3 | code change r2 / r3 | SR RMS change r2 / r3 (8-bit) | PSNR-Y T=1 / T=3 |")
    print("|---|---:|---:|---:|---:|")
    for f in list_images([root / "LR"])[::args.every]:
        r = svkr(load_rgb(f)[None], rounds=3, return_rounds=True).rounds
        hr = load_rgb(root / "HR" / f.name)
        p = [psnr(r[i]["sr"][0], hr, crop=4) for i in (0, 2)]  # round 1 of a T = 3 run is the T = 1 output
        d = [(r[i]["depth"] - r[0]["depth"]).abs().mean().item() for i in (1, 2)]
        c = [((r[i]["codes"] - r[0]["codes"]).abs().mean() / r[0]["codes"].abs().mean()).item() for i in (1, 2)]
        s = [255 * (r[i]["sr"] - r[0]["sr"]).pow(2).mean().sqrt().item() for i in (1, 2)]
        rows.append(d + c + s + p)
        print(f"| {f.stem} | {d[0]:.4f} / {d[1]:.4f} | {c[0]:.3f} / {c[1]:.3f} | {s[0]:.3f} / {s[1]:.3f} "
              f"| {p[0]:.3f} / {p[1]:.3f} |")
    m = [statistics.mean(x) for x in zip(*rows)]
    print(f"| **mean** | {m[0]:.4f} / {m[1]:.4f} | {m[2]:.3f} / {m[3]:.3f} | {m[4]:.3f} / {m[5]:.3f} "
          f"| {m[6]:.3f} / {m[7]:.3f} |")


if __name__ == "__main__":
    main()
