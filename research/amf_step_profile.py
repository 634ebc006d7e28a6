"""Where an ``amf`` training step spends its time (a benchmark, not a test).

One batch of the GPU config (``configs/amf_gpu.yaml``: its models and recipes, no data
workers, float32) on this machine: drawing the degraded batch, the frozen SVKR at T = 3 and at
T = 1, and the denoiser's forward + backward. The SVKR share is why the GPU config trains with
``svkr_rounds: 1`` (docs/diffusion.md).

    python research/amf_step_profile.py [--batch 8] [--repeats 3] [--threads 2] [--device cpu]

Needs the training images (``../shared/datasets/train`` or ``$SSR_DATA``).
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
    ap.add_argument("--config", default="../configs/amf_gpu.yaml")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ssr.train import get_stage, load_config

    cls = get_stage("amf")
    cfg = load_config(args.config, cls.defaults, {"batch_size": args.batch, "data_workers": 0,
                                                  "mixed_precision": "no", "init_from": None})
    dev = torch.device(args.device)
    times: dict[str, list[float]] = {"degraded batch": [], "SVKR, T = 3": [], "SVKR, T = 1": [],
                                     "denoiser forward + backward": []}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as out:
        tr = cls(cfg, out, device=args.device)
        for r in range(args.repeats + 1):  # the first round warms up and is not counted
            idx = list(range(r * args.batch, (r + 1) * args.batch))
            t0 = time.perf_counter()
            b = super(cls, tr).finish_batch(tr.degraded_batch(idx, dev), dev)
            sync()
            t1 = time.perf_counter()
            with torch.no_grad():
                out3 = tr.svkr(b["lr"], rounds=3)
                sync()
                t2 = time.perf_counter()
                tr.svkr(b["lr"], rounds=1)
                sync()
            t3 = time.perf_counter()
            batch = {"lr": b["lr"], "hr": b["hr"], "kernels": b["kernels"], "sr": out3.sr, "codes": out3.codes,
                     "depth": out3.depth}
            loss, _ = tr.training_step(batch)
            loss.backward()
            sync()
            t4 = time.perf_counter()
            if r:
                for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    times[key].append(dt)
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else "no GPU"
    print(f"machine: {cpu_name()}, {args.threads} thread(s), {gpu}, torch {torch.__version__}\n")
    print(f"| amf step part (batch {args.batch}, median of {args.repeats}) | seconds |\n|---|---:|")
    for key, vals in times.items():
        print(f"| {key} | {statistics.median(vals):.2f} |")


if __name__ == "__main__":
    main()
