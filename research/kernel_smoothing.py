"""Does spreading SVKR's kernels from textured regions into flat ones make them follow the blur?

DKENet estimates one kernel per LR pixel; where a region holds no detail (flat sky) its estimate
is a guess. This probe takes SVKR's final kernel field once per picture and scores variants of
it against the true field, as ``ssr bench --kernels`` does (within-picture width correlation,
kernel L1, clean-LR re-synthesis PSNR, optionally the non-blind SR):

* ``raw``: the estimate itself;
* ``gauss-S``: every tap smoothed by a Gaussian of S LR px (a smooth-field prior);
* ``conf-S``: confidence-weighted normalised convolution, ``G_S * (c K) / G_S * c`` with the
  evidence map ``c`` of :func:`ssr.svkr.kernel_confidence`, blended back as ``c K + (1 - c) that``:
  measured kernels stay, guessed ones are replaced by their textured neighbours'.

Choose on training pictures only (default ``train/BSDS500-test/10*``, held out of every training run):

    python research/kernel_smoothing.py --limit 10 --sr    # the figures of research/README.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from ssr.degradation import DegradationConfig, apply_kernel_field
from ssr.degradation.apply import gaussian_blur, weighted_blur
from ssr.degradation.fields import kernel_width
from ssr.eval.datasets import degrade_source, image_seed
from ssr.eval.kernel_bench import _psnr, width_corr
from ssr.eval.metrics import psnr as psnr_y
from ssr.io import list_images
from ssr.pipeline import SSRPipeline
from ssr.svkr import kernel_confidence

ROOT = Path(__file__).resolve().parents[1]


def variant(name: str, k: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Kernel field ``1 x k*k x h x w`` of variant ``name`` (see the module docstring)."""
    if name == "raw":
        return k
    kind, s = name.rsplit("-", 1)
    s = float(s)
    if kind == "gauss":
        return gaussian_blur(k, s)
    if kind == "conf":
        spread = weighted_blur(k, conf, s, eps=1e-6)
        out = conf * k + (1 - conf) * spread
        return out / out.sum(1, keepdim=True)
    raise ValueError(name)


def add_set_arguments(ap: argparse.ArgumentParser) -> None:
    """The validation pictures and recipes a kernel probe degrades (shared with edge_blur_probe.py)."""
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/train/BSDS500-test"))
    ap.add_argument("--glob", default="10*", help="pictures of --data to use (default the held-out validation ones)")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--presets", nargs="+", default=["noise-jpeg", "blur-only"])
    ap.add_argument("--fields", nargs="+", default=["depth", "smooth", "piecewise", "radial"])


def degraded_sets(args: argparse.Namespace, kernel_size: int = 21):
    """``(label, pictures)`` per preset x field kind of ``args`` (:func:`add_set_arguments`);
    ``pictures`` yields each picture's degradation (``lr``, ``hr``, true ``kernels``), made exactly
    as ``ssr bench --kernels`` makes those of a ``FOLDER:PRESET@builtin`` spec (seed 0, blur depth
    from the built-in network). Not the cells of a spec without ``@builtin``: the depth source
    changes the drawn field of every kind, not only of ``depth`` (on the first validation picture,
    blur-only smooth: mean / spread of the true width 1.56 / 0.13 px with the synthetic depth, 2.16
    / 0.75 with the built-in one), so these figures are not comparable with such a bench's."""
    sources = sorted(Path(args.data).glob(args.glob))[: args.limit] or list_images([Path(args.data)])[: args.limit]
    for preset in args.presets:
        for kind in args.fields:
            cfg = DegradationConfig.preset(preset, scale=4)
            cfg.field.kernel_size = kernel_size
            cfg.field.kind = kind
            yield f"{preset} {kind}", (degrade_source(src, cfg, image_seed(0, src.name), "builtin") for src in sources)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--variants", nargs="+", default=["raw", "gauss-2", "gauss-4", "gauss-8", "gauss-16", "conf-4", "conf-8", "conf-16"])
    ap.add_argument("--sr", action="store_true", help="also the non-blind SR PSNR-Y with each variant")
    ap.add_argument("--weights", default=None)
    a = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    pipe = SSRPipeline.from_pretrained(a.weights, device="cpu", load_diffusion=False)
    svkr = pipe.svkr
    print(f"| set | variant | width corr. within ↑ | kernel L1 ↓ | re-synthesis PSNR ↑ |{' SR PSNR-Y ↑ |' if a.sr else ''}")
    print(f"|---|---|---:|---:|---:|{'---:|' if a.sr else ''}")
    for label, pictures in degraded_sets(a, int(svkr.dkenet.config["kernel_size"])):
        acc: dict[str, dict[str, list[float]]] = {v: {"corr": [], "l1": [], "psnr": [], "sr": []} for v in a.variants}
        for deg in pictures:
            lr, hr, gt = deg.lr, deg.hr, deg.kernels
            k = svkr(lr, rounds=3, return_kernels=True).kernels.float()
            conf = kernel_confidence(lr)
            clean = apply_kernel_field(hr, gt, 4).clamp(0, 1)
            true_w = kernel_width(gt)
            for v in a.variants:
                kv = variant(v, k, conf)
                acc[v]["corr"].append(width_corr(kernel_width(kv), true_w))
                acc[v]["l1"].append(float((kv - gt).abs().sum(1).mean()))
                acc[v]["psnr"].append(_psnr(apply_kernel_field(hr, kv, 4).clamp(0, 1), clean))
                if a.sr:
                    out = svkr.nonblind(lr, kv).float().clamp(0, 1)
                    acc[v]["sr"].append(psnr_y(out[0], hr[0], crop=4))
        for v in a.variants:
            m = {key: statistics.fmean(x) for key, x in acc[v].items() if x}
            sr = f" {m['sr']:.2f} |" if a.sr else ""
            print(f"| {label} | {v} | {m['corr']:.2f} | {m['l1']:.4f} | {m['psnr']:.2f} |{sr}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
