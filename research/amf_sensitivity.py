"""Sensitivity of the diffusion stage (AMF) to its degradation conditions (a benchmark, not a test).

Reproduces the SSR paper's sensitivity experiments (Fig. 8-9): SR quality of the full pipeline
(SVKR, T = 3, then the AMF-conditioned diffusion) when the conditions handed to the diffusion
stage are pushed off SVKR's estimates in either direction. SVKR runs once per picture; SR_T,
the diffusion seed and everything else stay fixed, so only the perturbation changes:

* kernel width factor f: every per-pixel kernel is resampled about its centre of mass,
  k'(p) ~ k(c + (p - c) / f) (bilinear, clamped >= 0, renormalised; f > 1 widens, f < 1
  narrows, taps that leave the k x k window are lost), then re-projected to PCA codes with the
  non-blind net's kernel PCA. The table gives the mean RMS kernel width (HR px) so f reads as a blur.
* depth shift d: depth' = clamp(depth + d, 0, 1), kernel codes unchanged.
* residual strength s: SR = SR_T + s * residual with the unperturbed conditions (s = 0: SVKR alone),
  for each start of the sampling on the noise schedule in ``--starts`` (1: from pure noise;
  below 1: SDEdit-style from SR_T, see ``DiffusionSampler(start=)``) and each colour correction
  in ``--color-fixes`` (``wavelet`` keeps only the residual's high frequencies). One residual is
  sampled per picture and start (``return_residual``); strengths and corrections reuse it.
* control (``--grain``): SR_T plus white Gaussian grain of standard deviation g (8-bit levels / 255,
  seeded, clamped), no diffusion: a residual that only adds noise. NIQE rewards some noise, so
  the diffusion stage earns its place only where it beats this curve.

Scores as ``ssr bench``: PSNR-Y and SSIM on the 8-bit output with a ``scale``-pixel border
crop, and NIQE. Prints markdown (and ``--json FILE`` writes every per-picture score).

    python research/amf_sensitivity.py --weights DIR [--data realsr] [--every 4] [--limit N]
        [--steps 10] [--kernel-factors 0.5,0.75,1,1.33,2] [--depth-shifts -0.4,-0.2,0,0.2,0.4]
        [--strengths 0,0.25,0.5,0.75,1] [--starts 1] [--color-fixes auto] [--scheduler NAME] [--grain 0.01,0.02]
        [--device cpu] [--threads 2] [--tile 256] [--json FILE]

``--limit`` caps the number of pictures after ``--every`` subsetting.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from ssr.errors import SSRError, reports_errors
from ssr.eval.datasets import open_dataset
from ssr.eval.kernel_bench import kernel_width
from ssr.eval.metrics import psnr, ssim
from ssr.eval.niqe import niqe
from ssr.eval.report import machine_line
from ssr.models.nonblind import project_codes


def rescale_kernels(field: torch.Tensor, factor: float, chunk: int = 1 << 16) -> torch.Tensor:
    """Scale the spatial width of every kernel of ``field`` (``B x k*k x h x w``) by ``factor``
    about its centre of mass; returns a field of the same shape, each kernel >= 0 summing to 1."""
    b, kk, h, w = field.shape
    k = math.isqrt(kk)
    ker = field.permute(0, 2, 3, 1).reshape(-1, kk)  # N x k*k, N = B h w
    r = torch.arange(k, dtype=field.dtype, device=field.device)
    yy, xx = (t.reshape(-1) for t in torch.meshgrid(r, r, indexing="ij"))  # k*k tap coordinates
    out = []
    for kc in ker.split(chunk):
        mass = kc.sum(1, keepdim=True).clamp_min(1e-12)
        cy, cx = (kc @ yy)[:, None] / mass, (kc @ xx)[:, None] / mass  # n x 1 centres
        sy, sx = cy + (yy - cy) / factor, cx + (xx - cx) / factor  # n x k*k sample points
        grid = torch.stack([sx, sy], -1).view(-1, k, k, 2) * (2 / (k - 1)) - 1  # n x k x k x (x, y)
        res = F.grid_sample(kc.view(-1, 1, k, k), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        res = res.view(-1, kk).clamp_min(0)
        out.append(res / res.sum(1, keepdim=True).clamp_min(1e-12))
    return torch.cat(out).view(b, h, w, kk).permute(0, 3, 1, 2).contiguous()


def scores(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict:
    """PSNR-Y, SSIM (8-bit, ``scale`` border) and NIQE (``None`` if the image is too small)."""
    sr = sr[0].float().cpu()
    try:
        nq = niqe(sr)
    except ValueError:
        nq = None
    return {"psnr": psnr(sr, hr, crop=scale), "ssim": ssim(sr, hr, crop=scale), "niqe": nq}


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def glue_lists(argv: list[str]) -> list[str]:
    """``--depth-shifts -0.4,0`` -> ``--depth-shifts=-0.4,0`` (argparse takes ``-0.4,0`` for an option)."""
    out: list[str] = []
    for a in argv:
        if out and out[-1] in ("--kernel-factors", "--depth-shifts", "--strengths") and a.startswith("-"):
            out[-1] += "=" + a
        else:
            out.append(a)
    return out


def mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return statistics.mean(vals) if vals else None


def fmt(v: float | None, pattern: str) -> str:
    return "n/a" if v is None else pattern.format(v)


def table(title: str, head: str, rows: dict, extra: dict[str, tuple[str, str]]) -> None:
    """One markdown table: a row per perturbation value, mean of ``extra`` columns then the scores."""
    if not rows:
        return  # the sweep was switched off (an empty list on the command line)
    cols = {**extra, "psnr": ("PSNR-Y (dB)", "{:.3f}"), "ssim": ("SSIM", "{:.4f}"), "niqe": ("NIQE", "{:.3f}")}
    print(f"\n### {title}\n\n| {head} | " + " | ".join(c[0] for c in cols.values()) + " |")
    print("|" + "---:|" * (head.count("|") + 1 + len(cols)))
    for value, rs in rows.items():
        label = " | ".join(v if isinstance(v, str) else f"{v:g}" for v in (value if isinstance(value, tuple) else (value,)))
        print(f"| {label} | " + " | ".join(fmt(mean(rs, key), c[1]) for key, c in cols.items()) + " |")


@reports_errors
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="pipeline folder with diffusion weights (default: shipped)")
    ap.add_argument("--data", default="realsr", help="dataset spec as `ssr bench --data` (default realsr)")
    ap.add_argument("--every", type=int, default=4, help="use every Nth picture (default 4)")
    ap.add_argument("--limit", type=int, help="at most N pictures (after --every)")
    ap.add_argument("--steps", type=int, help="diffusion solver steps (default: the pipeline's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tile", type=int, default=256, help="LR tile side (0: whole image)")
    ap.add_argument("--kernel-factors", type=floats, default=floats("0.5,0.75,1,1.33,2"))
    ap.add_argument("--depth-shifts", type=floats, default=floats("-0.4,-0.2,0,0.2,0.4"))
    ap.add_argument("--strengths", type=floats, default=floats("0,0.25,0.5,0.75,1"))
    ap.add_argument("--starts", type=floats, default=floats("1"), help="starts of sampling for the strength table")
    ap.add_argument("--color-fixes", type=lambda t: [v.strip() for v in t.split(",") if v.strip()], default=["auto"],
                    help="colour corrections for the strength table (auto, none, wavelet, adain)")
    ap.add_argument("--scheduler", help="diffusion solver (default: the pipeline's, pipeline.json)")
    ap.add_argument("--realism", type=float, help="SR_T from the prior-backed last round at this realism "
                    "(default: the pipeline's, when it has prior sets)")
    ap.add_argument("--no-prior", action="store_true", help="SR_T from the light non-blind last round")
    ap.add_argument("--grain", type=floats, default=[], help="control: SR_T + Gaussian grain of these std devs")
    ap.add_argument("--json", help="also write means and per-picture scores here")
    args = ap.parse_args(glue_lists(sys.argv[1:]))
    torch.set_num_threads(args.threads)
    from ssr.diffusion import DEFAULT_STEPS
    from ssr.pipeline import DEFAULT_DIR, SSRPipeline

    pipe = SSRPipeline.from_pretrained(args.weights, device=args.device)
    if not pipe.has_diffusion:
        raise SSRError(f"{args.weights or DEFAULT_DIR} has no diffusion weights (diffusion/); "
                       "train them with `ssr train amf` and pass --weights")
    ds = open_dataset(args.data, scale=pipe.native_scale)
    steps, tile, s = args.steps or DEFAULT_STEPS, args.tile or None, pipe.native_scale
    args.scheduler = args.scheduler or pipe.scheduler
    nb = pipe.svkr.nonblind
    use_prior = pipe.has_prior and not args.no_prior
    final = pipe.priors.net(pipe.realism if args.realism is None else args.realism) if use_prior else None
    idx = list(range(0, len(ds), max(1, args.every)))[: args.limit]
    res: dict[str, dict[float, list]] = {"kernel": {f: [] for f in args.kernel_factors},
                                         "depth": {d: [] for d in args.depth_shifts},
                                         "strength": {(t, c, v): [] for t in args.starts for c in args.color_fixes
                                                      for v in args.strengths},
                                         "grain": {g: [] for g in args.grain}}
    checks = {"kernels f=1": 0.0, "codes f=1": 0.0, "strength 0 vs SR_T": 0.0}

    def check(key: str, a: torch.Tensor, b: torch.Tensor) -> None:
        checks[key] = max(checks[key], (a - b).abs().max().item())

    for n, i in enumerate(idx):
        t0 = time.perf_counter()
        item = ds.load(i)
        lr = item.lr[None].to(pipe.device)  # 1 x 3 x h x w
        out = pipe.svkr(lr, rounds=3, tile=tile, return_kernels=True, final=final)  # sr 1x3xsHxsW, kernels 1xk*kxhxw
        field, codes, depth = out.kernels, out.codes, out.depth  # codes 1 x n x h x w, depth 1 x 1 x sH x sW

        def residual(c=None, d=None, start=1.0):
            key = start if c is None and d is None else None
            if key is not None and key in cache:
                return cache[key]  # unperturbed residuals are drawn once per start
            r = pipe.sampler(lr, out.sr, codes if c is None else c, depth if d is None else d, steps=steps,
                             seed=args.seed, tile=tile, start=start, scheduler=args.scheduler, return_residual=True)
            if key is not None:
                cache[key] = r
            return r

        def sample(c=None, d=None):
            return pipe.sampler.blend(out.sr, residual(c, d))

        cache: dict[float, torch.Tensor] = {}

        base_w = kernel_width(field).mean().item()
        for f in args.kernel_factors:
            kf = rescale_kernels(field, f)
            kc = project_codes(kf, nb.pca_mean, nb.pca_basis, nb.code_scale)
            if f == 1:
                check("kernels f=1", kf, field)
                check("codes f=1", kc, codes)
            res["kernel"][f].append({"name": item.name, "sigma": kernel_width(kf).mean().item(), "sigma0": base_w,
                                     **scores(sample(c=None if f == 1 else kc), item.hr, s)})
        for d in args.depth_shifts:
            dd = (depth + d).clamp(0, 1)
            res["depth"][d].append({"name": item.name, "depth": dd.mean().item(),
                                    **scores(sample(d=None if d == 0 else dd), item.hr, s)})
        for t in args.starts:
            for cf in args.color_fixes:
                for v in args.strengths:
                    sr = out.sr if v == 0 else pipe.sampler.blend(out.sr, residual(start=t), v, cf)
                    if v == 0:
                        check("strength 0 vs SR_T", pipe.sampler.blend(out.sr, residual(start=t), 0, cf), out.sr)
                    res["strength"][(t, cf, v)].append({"name": item.name, **scores(sr, item.hr, s)})
        for g in args.grain:
            gen = torch.Generator().manual_seed(args.seed * 1000003 + i)
            noisy = (out.sr + g * torch.randn(out.sr.shape, generator=gen).to(out.sr)).clamp(0, 1)
            res["grain"][g].append({"name": item.name, **scores(noisy, item.hr, s)})
        print(f"[{n + 1}/{len(idx)}] {item.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    print("## AMF sensitivity (SSR Fig. 8-9)\n")
    print("command: `python " + " ".join(sys.argv) + "`  ")
    print(f"machine: {machine_line()}; device {pipe.device}  ")
    print(f"data: {ds.label}, {len(idx)} pictures (every {args.every}th of {len(ds)}); diffusion {steps} steps, "
          f"{args.scheduler}, seed {args.seed}, tile {tile}; weights {args.weights or DEFAULT_DIR}  ")
    print("checks (max |diff|): " + ", ".join(f"{k} {v:.2e}" for k, v in checks.items()))
    table("Kernel width factor (depth unchanged, strength 1)", "factor f", res["kernel"],
          {"sigma0": ("estimated sigma (HR px)", "{:.3f}"), "sigma": ("rescaled sigma (HR px)", "{:.3f}")})
    table("Depth shift (kernels unchanged, strength 1)", "shift d", res["depth"], {"depth": ("mean depth", "{:.3f}")})
    table("Residual strength (unperturbed conditions; 0 = SVKR alone)", "start t | colour fix | strength s",
          res["strength"], {})
    table("Control: SR_T + Gaussian grain (no diffusion)", "grain std g", res["grain"], {})
    if args.json:
        summary = {t: {str(v): {k: mean(rs, k) for k in rs[0] if k != "name"} for v, rs in rows.items() if rs}
                   for t, rows in res.items()}
        res = {t: {str(v): rs for v, rs in rows.items()} for t, rows in res.items()}  # JSON keys
        with open(args.json, "w") as fh:
            json.dump({"command": sys.argv, "machine": machine_line(), "device": str(pipe.device),
                       "data": ds.label, "pictures": [ds.names[i] for i in idx], "steps": steps, "seed": args.seed,
                       "checks": checks, "means": summary, "per_image": res}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
