"""Choose the built-in depth estimator's ``prior_blend`` on the validation sets (a benchmark helper).

``prior_blend`` mixes the vertical-gradient prior into the normalised estimate,
``normalise((1 - b) * d + b * rows)`` (:class:`ssr.depth.builtin.DepthNet`). The rule: the ``b``
with the lowest mean of the two validation AbsRels (RGBDD hold-out and the procedural validation
scenes, :data:`depth_eval.VAL_SETS`); the evaluation sets (Middlebury, Lu, NYUv2-3) are never
looked at.

    python research/choose_prior_blend.py                       # the shipped network
    python research/choose_prior_blend.py --weights runs/depth_x/final --blends 0,0.1,0.2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from depth_eval import VAL_SETS, load_set, machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from ssr.depth.builtin import BUILTIN_WEIGHTS, BuiltinDepthEstimator
    from ssr.depth.evaluate import evaluate_estimator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/depth", help="folder holding RGBDD (and ../train for textures)")
    ap.add_argument("--weights", default=str(BUILTIN_WEIGHTS), help="depth weights folder (default: the shipped one)")
    ap.add_argument("--blends", default="0,0.05,0.1,0.15,0.2,0.3,0.5", help="comma-separated values of b to try")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    root = Path(args.data)
    if not (root / "RGBDD").is_dir():
        print(f"choose_prior_blend: no RGBDD folder under {root}", file=sys.stderr)
        return 2
    try:
        blends = [float(v) for v in args.blends.split(",") if v.strip()]
    except ValueError:
        print(f"choose_prior_blend: --blends must be numbers, got {args.blends!r}", file=sys.stderr)
        return 2
    if not blends or any(not 0 <= b < 1 for b in blends):
        print("choose_prior_blend: every blend must be in [0, 1)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    sets = {name: load_set(root, name) for name in VAL_SETS}
    print(f"Measured on {machine('cpu', args.threads)}; weights {args.weights}\n")
    print("| prior_blend | " + " | ".join(f"{n} AbsRel" for n in VAL_SETS) + " | mean |")
    print("|---:|" + "---:|" * (len(VAL_SETS) + 1))
    best = None
    for b in blends:
        est = BuiltinDepthEstimator(args.weights, prior_blend=b)
        vals = [evaluate_estimator(est, sets[n])["absrel"] for n in VAL_SETS]
        mean = sum(vals) / len(vals)
        print(f"| {b:g} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {mean:.4f} |", flush=True)
        if best is None or mean < best[1]:
            best = (b, mean)
    print(f"\nchosen prior_blend: {best[0]:g} (mean validation AbsRel {best[1]:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
