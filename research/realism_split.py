"""Is a frequency split a better fidelity-to-realism control than network interpolation?

The shipped control (``realism``) interpolates the weights of the fidelity and perceptual sets.
This probe runs both sets once per picture (realism 0 and 1) plus the interpolated network at
``--interp`` values, and scores output-space blends of the two outputs, ``F`` (fidelity) and
``P`` (perceptual):

* ``interp-R``: the shipped network interpolation at realism ``R`` (the reference curve);
* ``pixel-A``: ``(1 - A) F + A P``;
* ``split-S-A``: ``G_S F + (1 - G_S) [(1 - A) F + A P]``, low frequencies (Gaussian of S HR px)
  from the fidelity output, the detail above them blended at ``A``.

A variant is worth building only if it reaches a lower NIQE than the interpolation curve at the
same PSNR-Y and SSIM. Choose on training pictures only (default ``train/BSDS500-test/10*`` with
the noise-jpeg recipe, the validation pictures of ``research/choose_realism.py``; never eval/):

    python research/realism_split.py --limit 22 --threads 1    # the figures of research/README.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.degradation.apply import gaussian_blur
from ssr.eval.datasets import open_dataset
from ssr.eval.metrics import psnr, ssim
from ssr.eval.niqe import niqe
from ssr.pipeline import SSRPipeline

ROOT = Path(__file__).resolve().parents[1]


def split_blend(fid: torch.Tensor, per: torch.Tensor, sigma: float, amount: float) -> torch.Tensor:
    """``G_sigma F + (1 - G_sigma) [(1 - amount) F + amount P]`` for ``1 x 3 x H x W`` outputs
    (``sigma`` 0: the plain pixel blend)."""
    mix = torch.lerp(fid, per, amount)
    if sigma <= 0:
        return mix.clamp(0, 1)
    return (gaussian_blur(fid, sigma) + mix - gaussian_blur(mix, sigma)).clamp(0, 1)


def variants(args) -> list[tuple[str, float, float]]:
    """``(name, sigma, amount)`` of every output-space blend."""
    out = [(f"pixel-{a:g}", 0.0, a) for a in args.amounts]
    out += [(f"split-{s:g}-{a:g}", s, a) for s in args.sigmas for a in args.amounts]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/train/BSDS500-test") + ":noise-jpeg")
    ap.add_argument("--limit", type=int, default=22)
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped weights)")
    ap.add_argument("--interp", type=float, nargs="*", default=[0.75, 0.85, 0.9, 0.95])
    ap.add_argument("--amounts", type=float, nargs="+", default=[0.6, 0.75, 0.85, 1.0])
    ap.add_argument("--sigmas", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = SSRPipeline.from_pretrained(args.weights, device="cpu")
    ds = open_dataset(args.data, limit=args.limit)
    rows: dict[str, list[tuple[float, float, float]]] = {}

    def score(name: str, sr: torch.Tensor, hr: torch.Tensor) -> None:
        sr = (sr[0].clamp(0, 1) * 255).round() / 255  # scored as the saved 8-bit picture
        rows.setdefault(name, []).append((psnr(sr, hr, crop=4), ssim(sr, hr, crop=4), niqe(sr)))

    def run(lr: torch.Tensor, realism: float) -> torch.Tensor:
        return pipe(lr, diffusion=False, realism=realism).image.float()

    for item in ds:
        fid, per = run(item.lr, 0.0), run(item.lr, 1.0)
        for r in args.interp:
            score(f"interp-{r:g}", run(item.lr, r), item.hr)
        score("interp-0", fid, item.hr)
        score("interp-1", per, item.hr)
        for name, s, a in variants(args):
            score(name, split_blend(fid, per, s, a), item.hr)
        print(f"{item.name} done", file=sys.stderr)
    print(f"| {ds.label} ({len(ds)}), x4 | PSNR-Y | SSIM | NIQE |\n|---|---:|---:|---:|")
    for name, vals in rows.items():
        p, s, n = (statistics.mean(v[i] for v in vals) for i in range(3))
        print(f"| {name} | {p:.2f} | {s:.4f} | {n:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
