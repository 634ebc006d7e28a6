"""Cost of drawing training batches on the CPU (a benchmark, not a test).

A GPU run is fed by ``data_workers`` processes, each drawing whole batches with one thread;
this prints the milliseconds per sample one such worker spends (``Trainer.cpu_batch``: crop,
degradation mixture, and for stage 2 the PCA projection of the kernels), so the workers a GPU
needs can be sized: workers ~= samples/s wanted x ms per sample / 1000.

    python research/train_batch_speed.py [--config configs/nonblind_gpu.yaml] [--stage nonblind]
                                           [--batches 3] [--images 40]

Needs the training images of the config (``../shared/datasets/train`` by default).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
import statistics
import tempfile
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from timing import cpu_name  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="../configs/nonblind_gpu.yaml")
    ap.add_argument("--stage", default="nonblind")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--images", type=int, default=40, help="training images to load (speed only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from ssr.train import get_stage, load_config

    cls = get_stage(args.stage)
    cfg = load_config(args.config, cls.defaults, {"stage": args.stage, "init_from": None,
                                                  "data": {"max_images": args.images}})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = cls(cfg, tmp, device="cpu")
        bs = int(cfg["batch_size"])
        trainer.cpu_batch(list(range(bs)))  # warm-up
        times = []
        for b in range(1, args.batches + 1):
            t = time.perf_counter()
            batch = trainer.cpu_batch(list(range(b * bs, (b + 1) * bs)))
            times.append((time.perf_counter() - t) / bs * 1000)
    print(f"machine: {cpu_name()}, 1 thread, torch {torch.__version__}\n")
    print("| config | batch | HR crop | tensors sent | ms per sample (median) |")
    print("|---|---:|---:|---|---:|")
    sent = ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in batch.items())
    print(f"| {args.config} | {bs} | {cfg['data']['hr_crop']} | {sent} | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
