"""``ssr train STAGE --config FILE``: train one stage of SSR.

Multi-GPU / multi-node: launch with ``torchrun --nproc_per_node N -m ssr train ...`` (or
``accelerate launch``); on CPU two processes run with the gloo backend.
"""
from __future__ import annotations

import argparse

from ..errors import SSRError
from ..train import STAGES, get_stage, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a stage (depth, dkenet, nonblind, svkr, ...)",
                       description="Train one stage of SSR from a config file; checkpoints resume exactly.")
    p.add_argument("stage", help=f"stage to train ({', '.join(sorted(STAGES))})")
    p.add_argument("--config", help="YAML config of the experiment (see configs/)")
    p.add_argument("--out", help="output folder (default runs/STAGE)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--batch-size", type=int, help="override the per-process batch size")
    p.add_argument("--init", help="weights folder to start from (overrides init_from)")
    p.add_argument("--init-pipeline", help="amf stage: pipeline folder with the frozen SVKR (overrides init_pipeline)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="fit the run into this wall-clock time (re-plans the step count; overrides time_budget_s)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="force a device (default: CUDA when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    trainer_cls = get_stage(args.stage)
    overrides: dict = {"stage": args.stage}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.init:
        overrides["init_from"] = args.init
    if args.init_pipeline:
        overrides["init_pipeline"] = args.init_pipeline
    if args.time_budget is not None:
        if args.time_budget <= 0:
            raise SSRError("--time-budget must be a positive number of seconds")
        overrides["time_budget_s"] = args.time_budget
    cfg = load_config(args.config, trainer_cls.defaults, overrides)
    out = args.out or f"runs/{args.stage}"
    trainer = trainer_cls(cfg, out, device=args.device, resume=args.resume)
    final = trainer.fit()
    if final is not None:
        print(f"weights written to {final}")
    return 0
