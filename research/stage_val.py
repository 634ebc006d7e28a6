"""A training stage's validation metrics for several weights folders (a benchmark, not a test).

Builds the stage's trainer from a config (its fixed validation batch is drawn from the
config's own degradation recipes and seed, never from ``eval/``), loads each weights folder in
turn and prints the stage's ``evaluate()`` metrics (the non-blind stage: ``val_psnr`` on SR with
the true kernels, and bicubic's). Each folder is built with the network options it was saved
with (its ``config.json``), whatever the config's ``model`` says. Use it to choose between a
continued run and the shipped weights on validation data only, before scoring the winner on the
benchmarks.

    python research/stage_val.py --config configs/nonblind_cpu_more.yaml \\
        --weights src/ssr/weights/svkr/nonblind runs/nb_cpu_more/final [--stage nonblind] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile

import torch

from ssr.errors import reports_errors


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the stage's YAML config (sets the validation batch)")
    ap.add_argument("--weights", nargs="+", required=True, help="weights folders (config.json + model.safetensors)")
    ap.add_argument("--stage", default="nonblind", help="training stage (default nonblind)")
    ap.add_argument("--data-root", nargs="+", help="override the config's data.roots (training image folders)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ssr.models.base import SSRModel
    from ssr.train import get_stage, load_config

    cls = get_stage(args.stage)
    rows = []
    for folder in args.weights:
        # time_budget_s / steps do not matter: nothing is trained; the seed fixes the batch
        over = {"stage": args.stage, "init_from": folder, "mixed_precision": "no", "ema_decay": 0,
                "model": dict(SSRModel.saved_meta(folder).get("config", {}))}
        if args.data_root:
            over["data"] = {"roots": list(args.data_root)}
        cfg = load_config(args.config, cls.defaults, over)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = cls(cfg, tmp, device=args.device)
            trainer.model.eval()
            with torch.no_grad():
                rows.append((folder, trainer.evaluate()))
    keys = list(rows[0][1])
    print(f"validation batch of `{args.config}` (stage {args.stage}, {cfg['data'].get('val_batch', '?')} samples)\n")
    print("| weights | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for folder, m in rows:
        print(f"| {folder} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
