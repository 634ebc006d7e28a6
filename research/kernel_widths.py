"""How wide SVKR's final kernels are on real LR pictures, for several pipeline folders (a probe).

Real LR pictures (e.g. camera pairs) have no true kernel field, so the kernel table cannot score
them; this prints, per pipeline folder, the mean over the pictures of the mean, 10th and 90th
percentile of the estimated kernels' RMS radius (HR px, :func:`ssr.degradation.fields.kernel_width`),
to tell whether a candidate DKENet estimates wider or narrower blur than the shipped one there.

    python research/prior_checkpoint.py runs/pipe_cand --dkenet research/candidates/dkenet_edges
    python research/kernel_widths.py "../shared/datasets/eval/RealSR/LR/*" --limit 20 \\
        --weights src/ssr/weights runs/pipe_cand
"""
from __future__ import annotations

import argparse
import glob

import torch

from ssr.degradation.fields import kernel_width
from ssr.io import read_image
from ssr.pipeline import SSRPipeline


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pictures", help="glob of LR pictures")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--weights", nargs="+", default=[None], help="pipeline folders (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = sorted(glob.glob(args.pictures))[:args.limit]
    if not files:
        raise SystemExit(f"no pictures match {args.pictures}")
    print(f"| weights ({len(files)} pictures) | mean width | p10 | p90 |\n|---|---:|---:|---:|")
    for w in args.weights:
        svkr = SSRPipeline.from_pretrained(w, device="cpu").svkr
        stats = []
        for f in files:
            with torch.no_grad():
                k = svkr(read_image(f).rgb[None], return_kernels=True).kernels
            width = kernel_width(k).flatten().float()
            stats.append(torch.stack([width.mean(), width.quantile(0.1), width.quantile(0.9)]))
        m = torch.stack(stats).mean(0).tolist()
        print(f"| {w or 'shipped'} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
