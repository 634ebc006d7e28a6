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

    python research/kernel_smoothing.py --limit 10 --fields depth smooth piecewise radial --presets noise-jpeg blur-only
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ssr.degradation import DegradationConfig, apply_kernel_field
from ssr.degradation.fields import kernel_width
from ssr.eval.datasets import degrade_source, image_seed
from ssr.eval.kernel_bench import _psnr, width_corr
from ssr.eval.metrics import psnr as psnr_y
from ssr.io import list_images
from ssr.pipeline import SSRPipeline
from ssr.svkr import kernel_confidence

ROOT = Path(__file__).resolve().parents[1]


def gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``B x C x h x w`` (reflect padding), sigma in pixels."""
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-t * t / (2 * sigma * sigma))
    c = x.shape[1]
    # reflect padding needs pad < size: a picture smaller than the window gets a truncated one
    pad_h, pad_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    gw, gh = g[r - pad_w:r + pad_w + 1], g[r - pad_h:r + pad_h + 1]
    y = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect")
    y = F.conv2d(y, (gw / gw.sum()).view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    y = F.pad(y, (0, 0, pad_h, pad_h), mode="reflect")
    return F.conv2d(y, (gh / gh.sum()).view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


def variant(name: str, k: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Kernel field ``1 x k*k x h x w`` of variant ``name`` (see the module docstring)."""
    if name == "raw":
        return k
    kind, s = name.rsplit("-", 1)
    s = float(s)
    if kind == "gauss":
        return gaussian_smooth(k, s)
    if kind == "conf":
        spread = gaussian_smooth(conf * k, s) / gaussian_smooth(conf, s).clamp_min(1e-6)
        out = conf * k + (1 - conf) * spread
        return out / out.sum(1, keepdim=True)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/train/BSDS500-test"))
    ap.add_argument("--glob", default="10*", help="pictures of --data to use (default the held-out validation ones)")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--presets", nargs="+", default=["noise-jpeg", "blur-only"])
    ap.add_argument("--fields", nargs="+", default=["depth", "smooth", "piecewise", "radial"])
    ap.add_argument("--variants", nargs="+", default=["raw", "gauss-2", "gauss-4", "gauss-8", "conf-2", "conf-4", "conf-8"])
    ap.add_argument("--sr", action="store_true", help="also the non-blind SR PSNR-Y with each variant")
    ap.add_argument("--weights", default=None)
    a = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    pipe = SSRPipeline.from_pretrained(a.weights, device="cpu", load_diffusion=False)
    svkr = pipe.svkr
    sources = sorted(Path(a.data).glob(a.glob))[: a.limit] or list_images([Path(a.data)])[: a.limit]
    print(f"| set | variant | width corr. within ↑ | kernel L1 ↓ | re-synthesis PSNR ↑ |{' SR PSNR-Y ↑ |' if a.sr else ''}")
    print(f"|---|---|---:|---:|---:|{'---:|' if a.sr else ''}")
    for preset in a.presets:
        for kind in a.fields:
            cfg = DegradationConfig.preset(preset, scale=4)
            cfg.field.kernel_size = int(svkr.dkenet.config["kernel_size"])
            cfg.field.kind = kind
            acc: dict[str, dict[str, list[float]]] = {v: {"corr": [], "l1": [], "psnr": [], "sr": []} for v in a.variants}
            for src in sources:
                deg = degrade_source(src, cfg, image_seed(0, src.name), "builtin")
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
                print(f"| {preset} {kind} | {v} | {m['corr']:.2f} | {m['l1']:.4f} | {m['psnr']:.2f} |{sr}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
