"""Means of an ``ssr bench`` per-image table over a subset of pictures (a benchmark helper).

``ssr bench`` scores every picture of a set; ``research/amf_sensitivity.py --every N`` uses
every Nth picture (in the dataset's name order). This prints, per (dataset, method) of a
``per_image.csv``, the mean PSNR-Y / SSIM / NIQE over the same subset, so peers measured by
``ssr bench`` (e.g. Real-ESRGAN) can be read beside a sensitivity sweep, and with more digits
than ``results.md`` (to compare two runs of one method, e.g. float32 vs bfloat16 cells).

    python research/bench_subset.py runs/bench/per_image.csv [--every 8] [--dataset RealSR] [--digits 4]
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict


def subset_means(rows: list[dict], every: int = 1, dataset: str = "") -> dict[tuple[str, str], dict]:
    """``{(dataset, method): {"n", "psnr", "ssim", "niqe"}}`` over every ``every``-th picture by name."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if dataset.lower() in r["dataset"].lower():
            groups[(r["dataset"], r["method"])].append(r)
    out = {}
    for key, rs in groups.items():
        picked = sorted(rs, key=lambda r: r["image"])[:: max(1, every)]
        means = {"n": len(picked)}
        for m in ("psnr", "ssim", "niqe"):
            vals = [float(r[m]) for r in picked if r.get(m) not in (None, "", "nan")]
            means[m] = statistics.mean(vals) if vals else float("nan")
        out[key] = means
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="per_image.csv written by ssr bench")
    ap.add_argument("--every", type=int, default=1, help="every Nth picture in name order (default 1: all)")
    ap.add_argument("--dataset", default="", help="only datasets whose label contains this")
    ap.add_argument("--digits", type=int, default=4)
    args = ap.parse_args(argv)
    try:
        with open(args.csv, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        print(f"error: cannot read {args.csv}: {exc.strerror}", file=sys.stderr)
        return 2
    d = args.digits
    print(f"every {args.every}th picture of {args.csv}\n")
    print("| dataset | method | pictures | PSNR-Y | SSIM | NIQE |\n|---|---|---:|---:|---:|---:|")
    for (ds, method), m in sorted(subset_means(rows, args.every, args.dataset).items()):
        print(f"| {ds} | {method} | {m['n']} | {m['psnr']:.{d}f} | {m['ssim']:.{d}f} | {m['niqe']:.{d}f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
