"""Is a layer-wise realism schedule a better fidelity-to-realism control than one blend weight?

The control interpolates the fidelity and perceptual sets; with ``realism_tilt`` (``pipeline.json``)
each tensor gets its own weight, ``r ** 2 ** (tilt * (0.5 - p))`` with ``p`` its position along the
trunk (:func:`ssr.models.prior.layer_alpha`, :func:`~ssr.models.prior.trunk_position`): ``tilt > 0``
keeps the early layers (structure) nearer the fidelity set and moves the late ones (texture) nearer
the perceptual set, ``tilt < 0`` the reverse, and ``r`` = 0 or 1 stay the two sets exactly. A
schedule is worth shipping only if it reaches a lower NIQE at the same PSNR-Y and SSIM than the
plain curve (``tilt`` 0). Choose on training pictures only (default ``train/BSDS500-test/10*`` with the noise-jpeg recipe, the
validation pictures of ``research/choose_realism.py``; never eval/):

    python research/realism_layers.py --limit 22 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.eval.datasets import open_dataset
from ssr.eval.metrics import psnr, ssim
from ssr.eval.niqe import niqe
from ssr.pipeline import SSRPipeline

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/train/BSDS500-test") + ":noise-jpeg")
    ap.add_argument("--limit", type=int, default=22)
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped weights)")
    ap.add_argument("--realism", type=float, nargs="+", default=[0.85, 0.9, 0.95])
    ap.add_argument("--tilts", type=float, nargs="+", default=[0.0, -2.0, 2.0, 4.0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = SSRPipeline.from_pretrained(args.weights, device="cpu")
    ds = open_dataset(args.data, limit=args.limit)
    print(f"| {ds.label} ({len(ds)}), x4 | tilt | PSNR-Y | SSIM | NIQE |\n|---|---:|---:|---:|---:|")
    for tilt in args.tilts:
        for r in args.realism:
            pipe.priors.tilt = tilt  # the next call builds the tilted blend
            vals = []
            for item in ds:
                sr = pipe(item.lr, diffusion=False, realism=r).image.float()
                sr = (sr[0].clamp(0, 1) * 255).round() / 255  # scored as the saved 8-bit picture
                vals.append((psnr(sr, item.hr, crop=4), ssim(sr, item.hr, crop=4), niqe(sr)))
            p, s, n = (statistics.mean(v[i] for v in vals) for i in range(3))
            print(f"| realism {r:g} | {tilt:g} | {p:.2f} | {s:.4f} | {n:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
