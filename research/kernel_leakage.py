"""How much of SVKR's width map follows the blur and how much follows the content? (issue 17)

Per validation cell (preset x field family, as research/kernel_smoothing.py degrades them), the
mean over pictures of the within-picture standard deviation of the log width (the RMS radius of
:func:`ssr.degradation.fields.kernel_width`) of the true field and of the estimates, and the
within-picture correlation of the two. Under an ``invariant`` field (one kernel for the whole
picture) every bit of the estimate's spread is read from the content (or the depth), not the
blur: compare it with the spread under varying fields to see how much of the estimate is signal.
The slope (least-squares regression of the estimated on the true log width, per picture) says how
strongly the estimate responds to the blur it follows (1: in full; "-" under an invariant field).
Estimates: SVKR at T = 3 (the shipped loop), and DKENet given a constant depth (what depth adds).

    python research/kernel_leakage.py --limit 10 --fields invariant smooth piecewise radial
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.degradation.fields import kernel_width
from ssr.eval.kernel_bench import width_corr
from ssr.pipeline import SSRPipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_smoothing import add_set_arguments, degraded_sets  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped weights)")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    svkr = SSRPipeline.from_pretrained(args.weights, device="cpu", load_diffusion=False).svkr
    print("| set | true log-width s.d. | SVKR s.d. | SVKR corr. | SVKR slope | constant-depth DKENet s.d. | its corr. |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, pictures in degraded_sets(args, int(svkr.dkenet.config["kernel_size"])):
        acc: dict[str, list[float]] = {k: [] for k in ("true", "svkr", "svkr_c", "slope", "flat", "flat_c")}
        for deg in pictures:
            true_w = kernel_width(deg.kernels)[0].log()
            est = kernel_width(svkr(deg.lr, rounds=3, return_kernels=True).kernels.float())[0].log()
            h, w = deg.lr.shape[-2:]
            flat = kernel_width(svkr.dkenet(deg.lr, torch.full((1, 1, h, w), 0.5)).float())[0].log()
            acc["true"].append(float(true_w.std()))
            if float(true_w.std()) > 0.05:  # the blur varies: how much of it the estimate follows
                dt = true_w - true_w.mean()
                acc["slope"].append(float((dt * (est - est.mean())).sum() / (dt * dt).sum()))
            for key, m in (("svkr", est), ("flat", flat)):
                acc[key].append(float(m.std()))
                acc[f"{key}_c"].append(width_corr(m, true_w))
        m = {k: statistics.fmean(v) for k, v in acc.items() if v}
        slope = f"{m['slope']:.2f}" if "slope" in m else "-"
        print(f"| {label} | {m['true']:.3f} | {m['svkr']:.3f} | {m['svkr_c']:.2f} | {slope} | {m['flat']:.3f} | {m['flat_c']:.2f} |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
