"""Does a self-ensemble of DKENet (the 8 flips / quarter turns of the LR picture and its depth,
each width map turned back and the log widths averaged) make the width map follow the blur?
(a probe for issue 17)

Content leakage is read from texture; some of it depends on the texture's orientation and
would average out over the dihedral group, some would not. Round 1 of SVKR (no feedback) on the
degradations of ``ssr bench --kernels`` (:func:`kernel_smoothing.degraded_sets`), scored per
picture by the within-picture Pearson correlation of the widths with the true field's RMS
radius, for the identity alone (SVKR's kernels at T = 1), the 4 flips (g = 0, 2, 4, 6) and all 8
transforms (each transform runs the whole round, depth estimation included); and, for reference,
the kernels SVKR returns after T = 3 rounds (the SR feedback rounds included, as ``ssr bench
--kernels`` scores them).

    OMP_NUM_THREADS=2 python research/kernel_tta_probe.py --limit 22 --threads 2    # research/README.md
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
from ssr.svkr import dihedral

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_smoothing import add_set_arguments, degraded_sets  # noqa: E402

GROUPS = {"identity": (0,), "flips-4": (0, 2, 4, 6), "all-8": tuple(range(8))}


def round1_log_widths(svkr, lr: torch.Tensor) -> dict[int, torch.Tensor]:
    """Log width map ``1 x 1 x h x w`` of SVKR's round 1 (T = 1: depth, then DKENet) on each
    dihedral transform of ``lr``, turned back into the picture's frame (the RMS radius does not
    change when a kernel is flipped or turned)."""
    out = {}
    for t in range(8):
        k = svkr(dihedral(lr, t), rounds=1, return_kernels=True).kernels.float()
        out[t] = dihedral(kernel_width(k).clamp_min(1e-3).log().unsqueeze(1), t, inverse=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    svkr = SSRPipeline.from_pretrained(args.weights, device="cpu", load_diffusion=False).svkr
    cols = [*GROUPS, "svkr T=3"]
    print("| set | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    means = {k: [] for k in cols}
    for label, pictures in degraded_sets(args, int(svkr.dkenet.config["kernel_size"])):
        acc = {k: [] for k in cols}
        for deg in pictures:
            maps = round1_log_widths(svkr, deg.lr)
            true_w = kernel_width(deg.kernels)
            for name, ts in GROUPS.items():
                est = torch.stack([maps[t] for t in ts]).mean(0).exp()[:, 0]
                acc[name].append(width_corr(est, true_w))
            k = svkr(deg.lr, rounds=3, return_kernels=True).kernels.float()
            acc["svkr T=3"].append(width_corr(kernel_width(k), true_w))
        for k in cols:
            means[k].append(statistics.fmean(acc[k]))
        print(f"| {label} | " + " | ".join(f"{statistics.fmean(acc[k]):.3f}" for k in cols) + " |", flush=True)
    print("| mean | " + " | ".join(f"{statistics.fmean(means[k]):.3f}" for k in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
