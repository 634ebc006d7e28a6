"""Choose the diffusion stage's default solver and strength on a validation set (a benchmark helper).

The rule (the target of the diffusion issue, on data that is not an evaluation set): among the
(solver, strength) settings measured by ``amf_sensitivity.py`` (start 1, the given colour fix),
keep those whose mean PSNR-Y *and* SSIM are at least Real-ESRGAN's on the same pictures (the
fidelity floors, ``--floors``), and take the one with the lowest mean NIQE. The SSIM floor is
there because NIQE also rewards fine grain, which costs SSIM more than PSNR. Real-ESRGAN's
figures come from an ``ssr bench`` run over the same pictures (its ``per_image.csv``). The
pictures must be the same: checked by name.

    # the validation pictures: the first 20 of train/BSDS500-test, x4 noise-jpeg (never eval/)
    V=../shared/datasets/train/BSDS500-test:noise-jpeg
    ssr bench --data $V --methods realesrgan ssr-svkr ssr --limit 20 --metrics psnr ssim niqe --out runs/val_tune/bench
    for s in unipc dpm++; do python research/amf_sensitivity.py --data $V --every 1 --limit 20 --steps 10 \\
        --scheduler $s --kernel-factors= --depth-shifts= --strengths 0,0.25,0.5,0.75,1 --json runs/val_tune/sens_$s.json; done
    python research/choose_strength.py runs/val_tune/bench/per_image.csv runs/val_tune/sens_*.json
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import statistics
import sys
from pathlib import Path


METRICS = ("psnr", "ssim", "niqe")


def baseline(csv_path: Path, method: str) -> tuple[dict[str, float], set[str]]:
    """Mean PSNR, SSIM and NIQE of ``method`` in an ``ssr bench`` per_image.csv, and its picture names."""
    rows = [r for r in csv.DictReader(csv_path.open()) if r["method"] == method]
    if not rows:
        raise SystemExit(f"choose_strength: no {method!r} rows in {csv_path}")
    return {m: statistics.mean(float(r[m]) for r in rows) for m in METRICS}, {r["image"] for r in rows}


def settings(json_path: Path, color_fix: str) -> tuple[str, list[tuple[float, float, float, float]], set[str]]:
    """(solver, [(strength, psnr, ssim, niqe)], picture names) of one amf_sensitivity --json file."""
    d = json.loads(json_path.read_text())
    cmd = d["command"]
    solver = cmd[cmd.index("--scheduler") + 1] if "--scheduler" in cmd else "pipeline default"
    out = []
    for key, m in d["means"]["strength"].items():
        start, fix, strength = ast.literal_eval(key)
        if float(start) == 1.0 and fix == color_fix:
            out.append((float(strength), m["psnr"], m["ssim"], m["niqe"]))
    return solver, sorted(out), set(d["pictures"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_csv", type=Path, help="per_image.csv of an ssr bench run with the baseline method")
    ap.add_argument("sweeps", type=Path, nargs="+", help="amf_sensitivity.py --json files (one per solver)")
    ap.add_argument("--baseline", default="realesrgan", help="method whose PSNR / SSIM are the floors (default realesrgan)")
    ap.add_argument("--color-fix", default="auto", help="colour correction rows to compare (default auto)")
    ap.add_argument("--floors", default="psnr,ssim",
                    help="metrics that must reach the baseline's (comma-separated; default psnr,ssim)")
    args = ap.parse_args(argv)
    floors = [m.strip() for m in args.floors.split(",") if m.strip()]
    if any(m not in ("psnr", "ssim") for m in floors):
        ap.error("--floors takes psnr and/or ssim")

    base, names = baseline(args.bench_csv, args.baseline)
    print(f"{args.baseline}: PSNR-Y {base['psnr']:.3f} dB, SSIM {base['ssim']:.4f}, NIQE {base['niqe']:.3f} "
          f"on {len(names)} pictures; floors: {', '.join(floors) or 'none'}\n")
    print("| solver | strength | PSNR-Y (dB) | SSIM | NIQE | floors met |")
    print("|---|---:|---:|---:|---:|---|")
    best = None
    for path in args.sweeps:
        solver, rows, pics = settings(path, args.color_fix)
        if pics != names:
            raise SystemExit(f"choose_strength: {path} scores other pictures than {args.bench_csv}")
        for strength, p, s, n in rows:
            ok = all({"psnr": p, "ssim": s}[m] >= base[m] for m in floors)
            print(f"| {solver} | {strength:g} | {p:.3f} | {s:.4f} | {n:.3f} | {'yes' if ok else 'no'} |")
            if ok and (best is None or n < best[3]):
                best = (solver, strength, p, n)
    if best is None:
        print("\nno setting meets the floors")
        return 1
    print(f"\nchosen: solver {best[0]}, strength {best[1]:g} (PSNR-Y {best[2]:.3f} dB, NIQE {best[3]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
