"""Can blur be read off the LR picture's edges without learning? (a probe for issue 17)

The estimate of :func:`ssr.models.dkenet.edge_sigma` (the gradient-peak ratio of two re-blurs,
whatever the edge's contrast) is taken at edge pixels (local maxima of the gradient, above the
picture's noise floor) and spread over the picture by edge-strength weighted normalised
convolution (``DKENet(edges=True)`` takes the same map: :func:`ssr.models.dkenet.edge_evidence`).
Scored, per picture, by the Pearson correlation of the width maps as ``ssr bench --kernels`` does,
against the true field's RMS radius; SVKR's own figures on the same pictures are in
research/README.md (kernel_smoothing.py, ``raw`` rows).

    python research/edge_blur_probe.py --limit 10 --svkr    # the figures of research/README.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.degradation.apply import weighted_blur
from ssr.degradation.fields import kernel_width
from ssr.eval.kernel_bench import width_corr
from ssr.models.dkenet import edge_sigma

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_smoothing import add_set_arguments, degraded_sets  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--spreads", nargs="+", type=float, default=[8.0, 16.0, 32.0])
    ap.add_argument("--a", type=float, default=0.3)
    ap.add_argument("--b", type=float, default=0.6)
    ap.add_argument("--q", type=float, default=0.8, help="edge pixels: gradient above this quantile")
    ap.add_argument("--svkr", action="store_true", help="also SVKR's widths (T = 3) and their blend with the "
                    "edge map (each z-scored within the picture, edge map weighted 0.5 and 1)")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    svkr = None
    if args.svkr:
        from ssr.pipeline import SSRPipeline

        svkr = SSRPipeline.from_pretrained(None, device="cpu", load_diffusion=False).svkr
    blends = [0.5, 1.0] if svkr is not None else []
    extra = (["SVKR"] + [f"SVKR + {lam:g} x edges (spread {args.spreads[0]:g})" for lam in blends]) if svkr else []
    print("| set | edges: corr. at edge pixels | " + " | ".join(f"dense corr. (spread {s:g})" for s in args.spreads)
          + "".join(f" | {e}" for e in extra) + " |")
    print("|---|---:|" + "---:|" * (len(args.spreads) + len(extra)))
    for label, pictures in degraded_sets(args):
        sparse_c, dense_c, extra_c = [], {s: [] for s in args.spreads}, {e: [] for e in extra}
        for deg in pictures:
            true_w = kernel_width(deg.kernels)[0]
            sigma, edge, weight = edge_sigma(deg.lr, args.a, args.b, args.q)
            dense = {s: weighted_blur(sigma, weight, s)[0, 0] for s in args.spreads}
            for s in args.spreads:
                dense_c[s].append(width_corr(dense[s], true_w))
            m = edge[0, 0]
            sparse_c.append(width_corr(sigma[0, 0][m], true_w[m]))
            if svkr is not None:
                est = kernel_width(svkr(deg.lr, rounds=3, return_kernels=True).kernels.float())[0]
                z = [(x - x.mean()) / x.std().clamp_min(1e-6) for x in (est, dense[args.spreads[0]])]
                for e, lam in zip(extra, [0.0, *blends]):
                    extra_c[e].append(width_corr(z[0] + lam * z[1], true_w))
        print(f"| {label} | {statistics.fmean(sparse_c):.2f} | "
              + " | ".join(f"{statistics.fmean(dense_c[s]):.2f}" for s in args.spreads)
              + "".join(f" | {statistics.fmean(extra_c[e]):.2f}" for e in extra) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
