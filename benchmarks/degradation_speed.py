"""Degradation engine speed and memory (a benchmark, not a test).

Prints a markdown table:
* time to degrade a 512x512 image at x4 with a 21x21 depth-informed field (median of runs),
  split into field generation and application, and for the whole seeded pipeline;
* peak resident memory when degrading a 2048x2048 image, measured in a fresh process.

    python benchmarks/degradation_speed.py [--runs 10] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch

from timing import median_time


def speed(runs: int, device: str) -> list[tuple[str, float]]:
    from ssr.degradation import (DegradationConfig, DegradationPipeline, FieldConfig, apply_kernel_field,
                                 depth_informed_field, random_depth)
    from ssr.degradation.synthetic_depth import to_resolution

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(1, 3, 512, 512, generator=g).to(device)
    depth, _ = random_depth(g, 1, 512, 512, "layered", device=device)
    depth_lr = to_resolution(depth, (128, 128))
    fld, _ = depth_informed_field(depth_lr, g, FieldConfig(), 4)
    rows = [
        ("depth-informed 21x21 field, generate (128x128 kernels)",
         median_time(lambda: depth_informed_field(depth_lr, g, FieldConfig(), 4), runs, sync)),
        ("apply field + x4 sampling (512x512 -> 128x128)",
         median_time(lambda: apply_kernel_field(hr, fld, 4), runs, sync)),
    ]
    for preset in ("blur-only", "noise-jpeg"):
        pipe = DegradationPipeline(DegradationConfig.preset(preset, scale=4), device=device)
        rows.append((f"DegradationPipeline '{preset}' (depth, field, blur, noise/JPEG)",
                     median_time(lambda: pipe(hr, seed=1), runs, sync)))
    pipe = DegradationPipeline(DegradationConfig.preset("noise-jpeg", field=FieldConfig(motion_prob=1.0)), device=device)
    rows.append(("DegradationPipeline 'noise-jpeg' + camera shake (FFT composition)",
                 median_time(lambda: pipe(hr, seed=1), max(3, runs // 3), sync)))
    return rows


def _peak_child(size: int) -> None:
    from ssr.degradation import DegradationConfig, DegradationPipeline

    hr = torch.rand(1, 3, size, size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    out = DegradationPipeline(DegradationConfig.preset("noise-jpeg"))(hr, seed=0)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    field_mb = out.kernels.numel() * 4 / 2**20
    print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024, "field_mb": field_mb, "seconds": dt}))


def peak_memory(size: int) -> dict:
    code = f"import sys; sys.path[:0] = {sys.path!r}; import benchmarks.degradation_speed as b; b._peak_child({size})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=2048, help="image side for the memory measurement")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {args.device}"
    print(f"Degradation engine benchmark ({machine})\n")
    print("| step | median seconds |")
    print("|---|---|")
    for name, sec in speed(args.runs, args.device):
        print(f"| {name} | {sec:.4f} |")
    if args.device == "cpu":
        m = peak_memory(args.size)
        print(f"\nPeak memory, {args.size}x{args.size} HR -> {args.size // 4}x{args.size // 4} LR "
              f"(noise-jpeg, in a fresh process):\n")
        print("| resident after import (MB) | peak resident (MB) | added by degradation (MB) | "
              "of which the output kernel field (MB) | seconds |")
        print("|---|---|---|---|---|")
        print(f"| {m['base_mb']:.0f} | {m['peak_mb']:.0f} | {m['peak_mb'] - m['base_mb']:.0f} | "
              f"{m['field_mb']:.0f} | {m['seconds']:.2f} |")


if __name__ == "__main__":
    main()
