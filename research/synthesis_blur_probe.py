"""Can a pretrained generator's output tell the blur by analysis-by-synthesis? (a probe for issue 17)

A pretrained ESRGAN-family generator (``ssr.models.rrdbnet.load_prior``) restores the LR picture
to a sharp estimate ``X``; each candidate isotropic Gaussian width ``s`` re-degrades it
(``down(X * g_s)``, the sampling of :func:`ssr.degradation.apply_kernel_field`) and the squared
difference to the observed LR, smoothed over a window, scores ``s`` at every LR pixel. The width
map is the soft arg-min over the candidates; the spread of the scores is the evidence (flat
regions score every width alike). Scored, per picture, by the Pearson correlation of width maps
against the true field's RMS radius, as ``ssr bench --kernels`` does, on the same validation
cells as research/kernel_smoothing.py and edge_blur_probe.py; with ``--svkr`` also SVKR's own
widths (T = 3) and their z-blend with this map.

    python research/synthesis_blur_probe.py --limit 10 --svkr

``--prior hr`` re-degrades the true HR picture instead of a generator's output: an oracle that
knows the content, so its correlation is a ceiling on what the local evidence of the LR picture
tells about the blur (flat regions score every width alike whatever the estimator).

    python research/synthesis_blur_probe.py --limit 10 --prior hr --windows 1 2 4
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.degradation.apply import gaussian_blur, weighted_blur
from ssr.degradation.fields import kernel_width
from ssr.eval.kernel_bench import width_corr
from ssr.eval.local_oracle import SIGMAS, synthesis_errors, width_map
from ssr.models.rrdbnet import load_prior

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_smoothing import add_set_arguments, degraded_sets  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--prior", default="realesrgan-x4plus", help="pretrained generator (ssr.models.rrdbnet.PRIORS), or 'hr': the true HR picture (the oracle ceiling)")
    ap.add_argument("--windows", nargs="+", type=float, default=[2.0, 4.0])
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--spread", type=float, default=8.0, help="evidence-weighted spreading of the map (LR px)")
    ap.add_argument("--svkr", action="store_true", help="also SVKR's widths (T = 3) and the z-blend with this map")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    gen = None if args.prior == "hr" else load_prior(args.prior).eval()
    svkr = None
    if args.svkr:
        from ssr.pipeline import SSRPipeline

        svkr = SSRPipeline.from_pretrained(None, device="cpu", load_diffusion=False).svkr
    cols = [f"window {w:g}" for w in args.windows] + [f"window {args.windows[-1]:g}, spread"]
    if svkr is not None:
        cols += ["SVKR", "SVKR + 0.5 x this", "SVKR + 1 x this"]
    print("| set | " + " | ".join(cols) + " | mean width est. (true) |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for label, pictures in degraded_sets(args):
        acc = {c: [] for c in cols}
        means = []
        for deg in pictures:
            true_w = kernel_width(deg.kernels)[0]
            if gen is None:
                x = deg.hr
            else:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    x = gen(deg.lr)
                x = x.float().clamp(0, 1)
            err = synthesis_errors(x, deg.lr, SIGMAS)  # once per picture, smoothed per window
            for wdw, c in zip(args.windows, cols):
                wm, ev = width_map(gaussian_blur(err, wdw), SIGMAS, args.temperature)
                acc[c].append(width_corr(wm[0, 0], true_w))
            spread = weighted_blur(wm, ev, args.spread)
            acc[cols[len(args.windows)]].append(width_corr(spread[0, 0], true_w))
            means.append((float(spread.mean()), float(true_w.mean())))
            if svkr is not None:
                est = kernel_width(svkr(deg.lr, rounds=3, return_kernels=True).kernels.float())[0]
                z = [(m - m.mean()) / m.std().clamp_min(1e-6) for m in (est, spread[0, 0])]
                for c, lam in zip(cols[-3:], (0.0, 0.5, 1.0)):
                    acc[c].append(width_corr(z[0] + lam * z[1], true_w))
        est_m, true_m = (statistics.fmean(v) for v in zip(*means))
        print(f"| {label} | " + " | ".join(f"{statistics.fmean(acc[c]):.2f}" for c in cols)
              + f" | {est_m:.2f} ({true_m:.2f}) |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
