"""Can blur be read off the LR picture's edges without learning? (a probe for issue 17)

A step edge blurred by a Gaussian of sigma ``s`` has a gradient peak ``A / (sqrt(2 pi) s)``;
re-blurred by Gaussians of ``a < b`` the peaks' ratio is ``R = sqrt(s^2 + b^2) / sqrt(s^2 + a^2)``,
so ``s^2 = (b^2 - R^2 a^2) / (R^2 - 1)`` whatever the edge's contrast (Zhuo and Sim's defocus-map
idea with two re-blurs, the smaller one taming noise). The estimate is taken at edge pixels (local
maxima of the gradient, above the picture's noise floor) and spread over the picture by
edge-strength weighted normalised convolution. Scored, per picture, by the Pearson correlation of
the width maps as ``ssr bench --kernels`` does, against the true field's RMS radius; SVKR's own
figures on the same pictures are in research/README.md (kernel_smoothing.py, ``raw`` rows).

    python research/edge_blur_probe.py --limit 10
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ssr.degradation import DegradationConfig
from ssr.degradation.fields import kernel_width
from ssr.eval.datasets import degrade_source, image_seed
from ssr.eval.kernel_bench import width_corr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_smoothing import gaussian_smooth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _grad(y: torch.Tensor) -> torch.Tensor:
    gx = F.pad(y, (1, 1, 0, 0), mode="replicate")
    gy = F.pad(y, (0, 0, 1, 1), mode="replicate")
    return torch.sqrt(((gx[..., 2:] - gx[..., :-2]) / 2) ** 2 + ((gy[..., 2:, :] - gy[..., :-2, :]) / 2) ** 2)


def edge_blur(lr: torch.Tensor, a: float = 0.3, b: float = 0.6, spread: float = 16.0, q: float = 0.8
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edge-based blur of an LR picture ``1 x 3 x h x w`` -> (dense sigma map ``1 x 1 x h x w`` in
    LR px, sparse sigma at edges, edge weights)."""
    y = (0.299 * lr[:, :1] + 0.587 * lr[:, 1:2] + 0.114 * lr[:, 2:3]).float()
    ga, gb = _grad(gaussian_smooth(y, a)), _grad(gaussian_smooth(y, b))
    peak = ga == F.max_pool2d(ga, 3, stride=1, padding=1)
    thr = torch.quantile(ga.flatten(), q)
    edge = peak & (ga > thr)
    r2 = (ga / gb.clamp_min(1e-6)) ** 2
    s2 = (b * b - r2 * a * a) / (r2 - 1).clamp_min(1e-3)
    sigma = s2.clamp(0, 16).sqrt()
    w = edge.float() * ga
    dense = gaussian_smooth(w * sigma, spread) / gaussian_smooth(w, spread).clamp_min(1e-8)
    return dense, sigma, edge


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/train/BSDS500-test"))
    ap.add_argument("--glob", default="10*")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--presets", nargs="+", default=["noise-jpeg", "blur-only"])
    ap.add_argument("--fields", nargs="+", default=["depth", "smooth", "piecewise", "radial"])
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
    sources = sorted(Path(args.data).glob(args.glob))[: args.limit]
    extra = (["SVKR"] + [f"SVKR + {lam:g} x edges (spread {args.spreads[0]:g})" for lam in blends]) if svkr else []
    print("| set | edges: corr. at edge pixels | " + " | ".join(f"dense corr. (spread {s:g})" for s in args.spreads)
          + "".join(f" | {e}" for e in extra) + " |")
    print("|---|---:|" + "---:|" * (len(args.spreads) + len(extra)))
    for preset in args.presets:
        for kind in args.fields:
            cfg = DegradationConfig.preset(preset, scale=4)
            cfg.field.kernel_size = 21
            cfg.field.kind = kind
            sparse_c, dense_c, extra_c = [], {s: [] for s in args.spreads}, {e: [] for e in extra}
            for src in sources:
                deg = degrade_source(src, cfg, image_seed(0, src.name), "builtin")
                true_w = kernel_width(deg.kernels)[0]
                for s in args.spreads:
                    dense, sigma, edge = edge_blur(deg.lr, args.a, args.b, s, args.q)
                    dense_c[s].append(width_corr(dense[0, 0], true_w))
                m = edge[0, 0]
                sparse_c.append(width_corr(sigma[0, 0][m], true_w[m]))
                if svkr is not None:
                    est = kernel_width(svkr(deg.lr, rounds=3, return_kernels=True).kernels.float())[0]
                    ed = edge_blur(deg.lr, args.a, args.b, args.spreads[0], args.q)[0][0, 0]
                    z = [(x - x.mean()) / x.std().clamp_min(1e-6) for x in (est, ed)]
                    for e, lam in zip(extra, [0.0, *blends]):
                        extra_c[e].append(width_corr(z[0] + lam * z[1], true_w))
            print(f"| {preset} {kind} | {statistics.fmean(sparse_c):.2f} | "
                  + " | ".join(f"{statistics.fmean(dense_c[s]):.2f}" for s in args.spreads)
                  + "".join(f" | {statistics.fmean(extra_c[e]):.2f}" for e in extra) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
