"""Diagnostic probes of SVKR's two networks (a benchmark, not a test). Prints three tables:

1. **width response**: one BSD100 picture blurred by spatially invariant isotropic Gaussians of
   sigma 0.4-3.5 HR px (no noise, 8-bit), x4; the mean RMS width of DKENet's estimate for each.
   A working estimator follows the diagonal; a collapsed one prints the same width every time.
2. **does the non-blind net use its kernels?**: PSNR-Y on the first N pictures of a synthetic
   BSD100 set for bicubic and for the non-blind net given the true kernels, the mean training
   kernel, and DKENet's estimate (T = 1).
3. **fixed-width sweep on RealSR**: PSNR-Y of the non-blind net with one isotropic kernel of
   width w everywhere, on every 10th RealSR pair, next to SVKR's own estimate (T = 3).

    python research/kernel_probes.py [--weights DIR] [--dkenet DIR] [--images 15]

``--dkenet`` swaps in another DKENet folder (e.g. an older run) keeping the rest of the pipeline.
Needs ``../shared/datasets/eval`` (or ``$SSR_DATA/eval``).
"""
from __future__ import annotations

import argparse
import statistics

import torch

from ssr.degradation import DegradationConfig, apply_kernel_field
from ssr.degradation.kernels import center_shift, isotropic_gaussian
from ssr.eval.datasets import degrade_source, image_seed, parse_spec
from ssr.eval.kernel_bench import kernel_width
from ssr.eval.metrics import psnr
from ssr.io import list_images, load_rgb
from ssr.models.base import SSRModel
from ssr.models.nonblind import bicubic_up
from ssr.pipeline import SSRPipeline


def invariant_field(sigma: float, k: int, scale: int, h: int, w: int) -> torch.Tensor:
    kern = isotropic_gaussian(torch.tensor([sigma]), k=k, shift=center_shift(scale))
    return kern.reshape(1, k * k, 1, 1).expand(1, k * k, h, w)


@torch.no_grad()
def width_response(svkr, k: int) -> None:
    hr = load_rgb(list_images([parse_spec("bsd100").path])[3])[None][..., :320, :320]
    print("| true sigma (px) | true width | estimated width (mean) |\n|---:|---:|---:|")
    for s in (0.4, 0.8, 1.2, 1.8, 2.5, 3.5):
        field = invariant_field(s, k, 4, 80, 80)
        lr = (apply_kernel_field(hr, field, 4).clamp(0, 1) * 255).round() / 255
        est = svkr.dkenet(lr, torch.full((1, 1, 80, 80), 0.5))
        print(f"| {s} | {kernel_width(field).mean():.3f} | {kernel_width(est).mean():.3f} |")


@torch.no_grad()
def kernel_use(svkr, k: int, preset: str, n: int) -> None:
    spec = parse_spec(f"bsd100:{preset}@builtin")
    cfg = DegradationConfig.preset(preset, scale=4)
    cfg.field.kernel_size = k
    rows = {"bicubic": [], "true kernels": [], "mean kernel": [], "DKENet estimate (T = 1)": []}
    nb = svkr.nonblind
    for src in list_images([spec.path])[:n]:
        deg = degrade_source(src, cfg, image_seed(0, src.name), spec.depth)
        lr, hr = deg.lr, deg.hr[0]
        h, w = lr.shape[-2:]
        rows["bicubic"].append(psnr(bicubic_up(lr, 4).clamp(0, 1)[0], hr, crop=4))
        rows["true kernels"].append(psnr(nb(lr, kernels=deg.kernels).clamp(0, 1)[0], hr, crop=4))
        mean = nb.pca_mean.view(1, -1, 1, 1).expand(1, -1, h, w)
        rows["mean kernel"].append(psnr(nb(lr, kernels=mean).clamp(0, 1)[0], hr, crop=4))
        rows["DKENet estimate (T = 1)"].append(psnr(svkr(lr, rounds=1).sr[0], hr, crop=4))
    print(f"\nBSD100 x4 {preset}, blur from built-in depth, first {n} pictures\n")
    print("| non-blind input | PSNR-Y (dB) |\n|---|---:|")
    for name, v in rows.items():
        print(f"| {name} | {statistics.mean(v):.3f} |")


@torch.no_grad()
def realsr_sweep(svkr, k: int) -> None:
    root = parse_spec("realsr").path
    pairs = list_images([root / "LR"])[::10]
    widths = (0.4, 0.8, 1.2, 1.6, 2.0, 2.6)
    res = {w: [] for w in widths}
    est, est_w = [], []
    for f in pairs:
        lr, hr = load_rgb(f)[None], load_rgb(root / "HR" / f.name)
        out = svkr(lr, rounds=3, return_kernels=True)
        est.append(psnr(out.sr[0], hr, crop=4))
        est_w.append(float(kernel_width(out.kernels).mean()))
        for w in widths:
            field = invariant_field(w, k, 4, *lr.shape[-2:])
            res[w].append(psnr(svkr.nonblind(lr, kernels=field).clamp(0, 1)[0], hr, crop=4))
    print(f"\nRealSR x4, every 10th pair ({len(pairs)} pictures)\n")
    print("| kernel | PSNR-Y (dB) |\n|---|---:|")
    for w in widths:
        print(f"| fixed isotropic, sigma {w} | {statistics.mean(res[w]):.3f} |")
    print(f"| SVKR estimate, T = 3 (mean width {statistics.mean(est_w):.2f}) | {statistics.mean(est):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="pipeline folder (default: shipped)")
    ap.add_argument("--dkenet", help="another DKENet folder to probe with the same non-blind net")
    ap.add_argument("--images", type=int, default=15, help="pictures for table 2 (default 15)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    svkr = SSRPipeline.from_pretrained(args.weights, device="cpu", load_diffusion=False).svkr
    if args.dkenet:
        svkr.dkenet = SSRModel.from_pretrained(args.dkenet, device="cpu").eval()
    k = int(svkr.dkenet.config["kernel_size"])
    width_response(svkr, k)
    for preset in ("noise-jpeg", "blur-only"):
        kernel_use(svkr, k, preset, args.images)
    realsr_sweep(svkr, k)


if __name__ == "__main__":
    main()
