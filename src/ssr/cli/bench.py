"""``ssr bench``: score upscalers on benchmark sets (PSNR, SSIM, NIQE, ...) and compare them."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..choices import DEFAULT_SEED, ESTIMATORS, FIELD_KINDS, METHODS, METRICS
from ..errors import SSRError
from .common import check_weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark upscalers on real pairs or synthetic test sets (PSNR, SSIM, NIQE, ...)",
        description="Upscale every image of each dataset with each method, score the results and "
        "write OUT/results.md (table), OUT/per_image.csv and OUT/crops/. Finished (dataset, method) "
        "cells are stored in OUT/cells/ and reused by later runs (--force recomputes them).",
        epilog="Dataset specs: a folder with HR/ and LR/ sub-folders (real pairs), or a folder of HR "
        "images degraded into a fixed synthetic set, optionally with ':PRESET' (no-noise, no-jpeg, "
        "noise-jpeg (default), blur-only), e.g. ../shared/datasets/eval/BSD100:no-jpeg, and optionally '@builtin' "
        "so the blur follows the scene depth estimated by the built-in network (bsd100:noise-jpeg@builtin). Short names "
        "realsr, bsd100, set5, set14 are looked up in $SSR_DATA/eval or ../shared/datasets/eval.",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="SPEC", help="datasets (see below)")
    p.add_argument("--methods", nargs="+", default=["bicubic"], metavar="NAME",
                   help=f"upscalers to compare (default bicubic; available: {', '.join(sorted(METHODS))})")
    p.add_argument("--out", required=True, help="output folder (results.md, per_image.csv, crops/, cells/)")
    p.add_argument("--scale", type=int, default=4, choices=(2, 3, 4), help="SR factor (default 4)")
    p.add_argument("--limit", type=int, metavar="N", help="use only the first N images of each dataset")
    p.add_argument("--cache", metavar="DIR", help="cache of synthetic LR sets (default ~/.cache/ssr/bench)")
    p.add_argument("--crops", type=int, default=3, metavar="K",
                   help="side-by-side crops for the first K images of each dataset (default 3)")
    p.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS, metavar="M",
                   help=f"metrics to compute (default all: {' '.join(METRICS)}); "
                   "LPIPS/MUSIQ/CLIP-IQA need pyiqa and are reported n/a without it")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"base seed of the synthetic degradations (default {DEFAULT_SEED})")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch and ncnn (default: torch's default); 1 is faster on a busy machine")
    p.add_argument("--kernels", action="store_true",
                   help="score kernel estimators instead of upscalers (synthetic sets; methods: svkr, svkr-t1, "
                   "dkenet-nodepth, dkenet-true-depth, mean-kernel; oracles that read the HR picture: best-single, "
                   "local-oracle, true-kernels); writes OUT/kernels.md")
    p.add_argument("--field", nargs="+", metavar="KIND", choices=FIELD_KINDS,
                   help="with --kernels: score every set under these blur-field kinds "
                   f"({', '.join(FIELD_KINDS)}; radial is held out from training; default: the set's depth field)")
    p.add_argument("--sr", action="store_true",
                   help="with --kernels: also super-resolve with each estimator's kernels (the non-blind net, and the "
                        "prior-backed fidelity net when the pipeline has one) and report PSNR-Y")
    p.add_argument("--weights", metavar="DIR",
                   help="pipeline folder for the ssr and ssr-* methods and --kernels (default: the shipped weights)")
    p.add_argument("--force", action="store_true", help="recompute cells even if they are stored")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    """The invocation, with every option resolved (recorded in results.md)."""
    methods = [] if args.kernels and args.methods == ["bicubic"] else ["--methods", *args.methods]
    parts = ["ssr", "bench", "--data", *args.data, *methods, "--out", args.out, "--scale", str(args.scale)]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.cache:
        parts += ["--cache", args.cache]
    if not args.kernels:
        parts += ["--crops", str(args.crops), "--metrics", *args.metrics]
    if args.seed != DEFAULT_SEED:
        parts += ["--seed", str(args.seed)]
    if args.threads:
        parts += ["--threads", str(args.threads)]
    if args.kernels and args.field:
        parts += ["--field", *args.field]
    if args.kernels and args.sr:
        parts += ["--sr"]
    if args.weights:
        parts += ["--weights", args.weights]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    if args.kernels:
        methods = list(ESTIMATORS) if args.methods == ["bicubic"] else args.methods
        known, what = ESTIMATORS, "kernel estimator"
    else:
        methods, known, what = args.methods, METHODS, "method"
    unknown = [m for m in methods if m not in known]
    if unknown:  # before torch loads (a second) and before any dataset is prepared
        raise SSRError(f"unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    check_weights(args.weights)
    import torch

    from ..eval.bench import BenchOptions, run_bench

    if args.limit is not None and args.limit < 1:
        raise SSRError(f"--limit must be at least 1, got {args.limit}")
    if (args.field or args.sr) and not args.kernels:
        raise SSRError("--field and --sr only apply with --kernels (the upscaler sets use their own recipe)")
    if args.threads is not None:
        if args.threads < 1:
            raise SSRError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.kernels:
        from ..eval.kernel_bench import run_kernel_bench

        path = run_kernel_bench(args.data, methods, Path(args.out), scale=args.scale, limit=args.limit,
                                base_seed=args.seed, weights=args.weights, command=_command(args) + " --kernels", progress=not args.quiet,
                                fields=args.field, sr=args.sr)
        print(f"wrote {path}")
        return 0
    opts = BenchOptions(
        data=args.data, methods=args.methods, out=Path(args.out), scale=args.scale, limit=args.limit,
        cache=Path(args.cache) if args.cache else None, crops=args.crops, metrics=args.metrics,
        force=args.force, progress=not args.quiet, seed=args.seed, command=_command(args),
        method_kwargs={m: {"weights": args.weights} for m in args.methods if args.weights and (m == "ssr" or m.startswith("ssr-"))},
    )
    cells = run_bench(opts)
    print(f"wrote {Path(args.out) / 'results.md'} ({len(cells)} dataset x method cells), "
          f"{Path(args.out) / 'per_image.csv'} and {Path(args.out) / 'crops'}/")
    return 0
