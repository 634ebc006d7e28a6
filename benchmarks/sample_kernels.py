"""The shipped sample's true and estimated blur kernels, side by side (a benchmark).

The sample LR (``ssr upscale --sample``) was made by ``ssr degrade`` from the sample picture
and its exact depth (``scripts/make_sample.py``: noise-jpeg, x4, seed 0); the same call here
regenerates its true kernel field, checked against the shipped LR bit for bit. SVKR then
estimates the field from the LR picture alone (T = 3 rounds, the weights of ``--weights``).
Prints the width statistics and their within-picture correlation, and writes a picture: the
true and the estimated kernels drawn over the picture (top), their width maps on one colour
scale (bottom).

    python benchmarks/sample_kernels.py [--weights PIPELINE_DIR] [--out docs/images/sample_kernels.png]
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F


def true_field():
    """``(hr 1x3xHxW, lr 1x3xhxw, kernels 1xk*kxhxw)`` of the shipped sample."""
    from ssr.assets import sample_depth_path, sample_image_path, sample_lr_path
    from ssr.degradation import DegradationConfig, DegradationPipeline, FieldConfig
    from ssr.io import read_depth, read_image

    cfg = DegradationConfig.preset("noise-jpeg", scale=4, field=FieldConfig())
    out = DegradationPipeline(cfg)(read_image(sample_image_path()).rgb, seed=0,
                                   depth=read_depth(str(sample_depth_path())))
    shipped = read_image(sample_lr_path()).rgb[None]
    if shipped.shape != out.lr.shape or float((shipped - out.lr).abs().max()) > 1 / 255:
        raise SystemExit("the regenerated sample LR differs from the shipped one: "
                         "scripts/make_sample.py and this script disagree")
    return out.hr, shipped, out.kernels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="pipeline folder (default: the shipped weights)")
    ap.add_argument("--out", default="docs/images/sample_kernels.png", help="picture to write ('' for none)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ssr.eval.kernel_bench import kernel_width, width_corr
    from ssr.io import write_image
    from ssr.pipeline import SSRPipeline
    from ssr.viz import colorize, kernel_grid

    hr, lr, true = true_field()
    pipe = SSRPipeline.from_pretrained(args.weights, load_diffusion=False)
    with torch.no_grad():
        est = pipe.svkr(lr, rounds=3, return_kernels=True).kernels.float()
    tw, ew = kernel_width(true)[0], kernel_width(est)[0]
    corr = width_corr(ew, tw)
    print(f"weights: {args.weights or 'shipped'}\n")
    print("| field | width min | median | max | corr. with true (within picture) |")
    print("|---|---:|---:|---:|---:|")
    for name, w in (("true", tw), ("estimated (SVKR, T = 3)", ew)):
        print(f"| {name} | {float(w.min()):.2f} | {float(w.median()):.2f} | {float(w.max()):.2f} | "
              f"{1.0 if name == 'true' else corr:.2f} |")
    if args.out:
        top = torch.cat([kernel_grid(hr[0], true[0]), kernel_grid(hr[0], est[0])], dim=-1)
        lo, hi = float(torch.minimum(tw.min(), ew.min())), float(torch.maximum(tw.max(), ew.max()))
        maps = [colorize((w - lo) / max(hi - lo, 1e-6)) for w in (tw, ew)]
        size = top.shape[-2], top.shape[-1] // 2
        bottom = torch.cat([F.interpolate(m[None], size=size, mode="nearest")[0] for m in maps], dim=-1)
        gap = torch.ones(3, 8, top.shape[-1])
        write_image(args.out, torch.cat([top, gap, bottom], dim=-2))
        # on stderr: the table (stdout) is what benchmarks/tables.py splices into the documents
        print(f"wrote {args.out}: left true, right estimated; top kernels over the picture, bottom "
              f"width maps (dark {lo:.2f} px to bright {hi:.2f} px)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
