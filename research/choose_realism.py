"""Choose the default realism of the prior-backed sets on validation pictures (a benchmark helper).

The rule (the target of the texture-prior issue, on data that is not an evaluation set): among
the realism settings measured by one ``ssr bench`` run (methods ``ssr-fidelity`` = 0 and
``ssr-realism-R``), keep those whose mean PSNR-Y *and* SSIM are at least the baseline's
(Real-ESRGAN by default) on the same pictures, and take the one with the lowest mean NIQE
(exit status 1 when none reaches the floors: then nothing is chosen).

    # the validation pictures: train/BSDS500-test/10*, held out of the prior stage's training (never eval/)
    V=../shared/datasets/train/BSDS500-test:noise-jpeg
    ssr bench --data $V --limit 22 --methods realesrgan ssr-fidelity ssr-realism-0.25 ssr-realism-0.5 \\
        ssr-realism-0.75 ssr-realism-1 --metrics psnr ssim niqe --out runs/val_prior
    python research/choose_realism.py runs/val_prior/per_image.csv
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path


def realism_of(method: str) -> float | None:
    if method == "ssr-fidelity":
        return 0.0
    if method.startswith("ssr-realism-"):
        return float(method[len("ssr-realism-"):])
    return None


def means(rows: list[dict], method: str) -> dict[str, float]:
    mine = [r for r in rows if r["method"] == method]
    return {m: statistics.mean(float(r[m]) for r in mine) for m in ("psnr", "ssim", "niqe")} | {"n": len(mine)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_csv", type=Path, help="per_image.csv of an ssr bench run")
    ap.add_argument("--baseline", default="realesrgan", help="method whose PSNR and SSIM are the floors")
    args = ap.parse_args(argv)
    rows = list(csv.DictReader(args.bench_csv.open()))
    methods = sorted({r["method"] for r in rows if realism_of(r["method"]) is not None}, key=realism_of)
    if not methods or not any(r["method"] == args.baseline for r in rows):
        print(f"choose_realism: need {args.baseline} and ssr-fidelity / ssr-realism-R rows in {args.bench_csv}")
        return 2
    base = means(rows, args.baseline)
    table = [(realism_of(m), means(rows, m)) for m in methods]
    if any(t["n"] != base["n"] for _, t in table):
        print("choose_realism: the methods were not measured on the same pictures")
        return 2
    print(f"| realism | PSNR | SSIM | NIQE | floors ({args.baseline} {base['psnr']:.2f} / {base['ssim']:.4f}) |")
    print("|---:|---:|---:|---:|---|")
    ok = []
    for r, t in table:
        meets = t["psnr"] >= base["psnr"] and t["ssim"] >= base["ssim"]
        ok += [(t["niqe"], r)] if meets else []
        print(f"| {r:g} | {t['psnr']:.2f} | {t['ssim']:.4f} | {t['niqe']:.2f} | {'yes' if meets else 'no'} |")
    if ok:
        niqe, r = min(ok)
        print(f"\nchosen: realism {r:g} (lowest NIQE, {niqe:.2f}, among the settings at or above the floors)")
        return 0
    print("\nno setting reaches both floors: nothing chosen")
    return 1


if __name__ == "__main__":
    sys.exit(main())
