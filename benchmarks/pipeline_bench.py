"""SSRPipeline speed, tiling agreement and peak memory (a benchmark, not a test).

Prints three markdown tables for the given pipeline folder (default: the shipped weights):

1. seconds for a 128x128 -> 512x512 upscale (median of ``--runs``): SVKR alone (T = 3) and,
   when the pipeline has a diffusion stage, the full pipeline at its default settings;
2. tiled vs untiled agreement (PSNR between the two outputs) on a 256x256 input in
   no-diffusion mode, for LR tiles of 64 and 128 pixels with the default 32-pixel overlap;
3. peak resident memory of a fresh process that upscales a 1024x1024 input x4 with the
   default tile (256), measured with ``resource.getrusage`` (``ru_maxrss``, whole process,
   Python and torch included), for SVKR alone and for the full pipeline.

    python benchmarks/pipeline_bench.py [--threads 2] [--runs 3] [--weights DIR] [--skip-memory]
                                        [--device cuda]

On a GPU (``--device cuda``) the speed and tiling tables are measured there (the memory table,
a CPU figure, is skipped).

Inputs are a natural-looking synthetic picture (the shipped sample, degraded x4 and tiled to
the size needed) so the numbers do not depend on any dataset.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import torch

from timing import cpu_name, median_time

MEMORY_CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from ssr.pipeline import SSRPipeline
weights = sys.argv[2] or None
diffusion = sys.argv[3] == "1"
pipe = SSRPipeline.from_pretrained(weights, device="cpu", load_diffusion=diffusion)
g = torch.Generator().manual_seed(0)
lr = torch.nn.functional.interpolate(torch.rand(1, 3, 64, 64, generator=g), size=(1024, 1024), mode="bicubic").clamp(0, 1)
lr = (lr + 0.05 * torch.rand(1, 3, 1024, 1024, generator=g)).clamp(0, 1)
t = time.perf_counter()
out = pipe(lr, tile=256, diffusion=diffusion and pipe.has_diffusion)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "shape": list(out.image.shape),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_input(size: int) -> torch.Tensor:
    """The shipped LR sample (128 x 96), mirror-extended to ``1 x 3 x size x size``."""
    import numpy as np

    from ssr.assets import sample_lr_path
    from ssr.io import load_rgb

    a = load_rgb(sample_lr_path()).numpy()
    a = np.pad(a, ((0, 0), (0, max(0, size - a.shape[1])), (0, max(0, size - a.shape[2]))), mode="symmetric")
    return torch.from_numpy(np.ascontiguousarray(a[:, :size, :size]))[None]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--weights", help="pipeline folder (default: shipped)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--layout", choices=("default", "contiguous", "both"), default="default",
                    help="weight layout for the speed table: the pipeline's default (channels-last on CPU), "
                         "contiguous, or both (contiguous first)")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16", "both"), default="auto",
                    help="network precision for the speed table (both: fp32 and bf16, interleaved), and the "
                         "agreement of the two on a 256x256 input when both")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ssr.pipeline import SSRPipeline, realism_label

    gpu = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    pipe = SSRPipeline.from_pretrained(args.weights, device=args.device)
    machine = torch.cuda.get_device_name() if gpu else f"{cpu_name()}, {args.threads} thread(s)"
    print(f"machine: {machine}, torch {torch.__version__}\n")

    lr = test_input(128).to(args.device)
    print("| 128x128 -> 512x512 | seconds (median of %d) |" % args.runs)
    print("|---|---:|")
    layouts = {"default": [None], "contiguous": [False], "both": [False, True]}[args.layout]
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    variants = [(lay, prec) for lay in layouts for prec in precisions]
    cases = [("SVKR, T = 3, light last round (--no-prior --no-diffusion)", {"diffusion": False, "prior": False})]
    if pipe.has_prior:
        cases.append(("fidelity mode (--fidelity: SVKR, prior-backed last round at realism 0)",
                      {"diffusion": False, "realism": 0.0}))
    default_diffusion = pipe.has_diffusion and pipe.strength > 0
    cases.append((f"default (ssr upscale: {realism_label(pipe.realism, pipe.priors.tilt)}" + (f", + 10 {pipe.scheduler} diffusion steps)"
                   if default_diffusion else ", no diffusion: strength 0)") if pipe.has_prior else
                  f"full pipeline (SVKR + 10 {pipe.scheduler} steps)", {}))
    if pipe.has_prior and pipe.has_diffusion and not default_diffusion:  # the stage that ships off: its cost when on
        cases.append((f"default + diffusion (--strength 0.25: 10 {pipe.scheduler} steps)", {"strength": 0.25}))
    if not gpu:  # the peer, side by side in the same run
        try:
            from ssr.eval.methods import get_method

            peer = get_method("realesrgan", threads=args.threads)
            cases.append(("Real-ESRGAN x4plus (ncnn, the peer)", {"peer": peer}))
        except Exception as exc:  # noqa: BLE001 - the optional peer
            print(f"| Real-ESRGAN x4plus (ncnn) | n/a ({exc}) |")
    for label, kw in cases:
        times: dict = {v: [] for v in variants}
        for _ in range(args.runs):  # variants interleaved run by run, so drifts of a shared CPU hit all alike
            for lay, prec in variants:
                if lay is not None:
                    pipe.channels_last(lay)
                call = (lambda: kw["peer"](lr, 4)) if "peer" in kw else (lambda: pipe(lr, precision=prec, **kw))
                times[(lay, prec)].append(median_time(call, 1, sync))
        for lay, prec in variants:
            tag = "" if lay is None else (", channels-last weights" if lay else ", contiguous weights")
            tag += "" if len(precisions) == 1 else f", {prec}"
            print(f"| {label}{tag} | {statistics.median(times[(lay, prec)]):.3f} |")
    if len(precisions) == 2:
        x = test_input(256).to(args.device)
        print("\n| 256x256 input, bf16 vs fp32 | PSNR (dB) | max abs diff (8-bit levels) |")
        print("|---|---:|---:|")
        for label, kw in cases:
            if "peer" in kw:
                continue
            a, b = (pipe(x, precision=p, **kw).image for p in ("fp32", "bf16"))
            a, b = ((t * 255).round() / 255 for t in (a, b))  # as written to an 8-bit file
            print(f"| {label} | {psnr(a, b):.2f} | {(a - b).abs().max().item() * 255:.0f} |")

    lr = test_input(256).to(args.device)
    full = pipe(lr, tile=None, diffusion=False).image
    print("\n| 256x256 input, no diffusion | PSNR tiled vs untiled (dB) | max abs diff |")
    print("|---|---:|---:|")
    for tile in (64, 128):
        out = pipe(lr, tile=tile, tile_overlap=32, diffusion=False).image
        print(f"| LR tile {tile}, overlap 32 | {psnr(out, full):.2f} | {(out - full).abs().max().item():.4f} |")

    if args.skip_memory or gpu:
        return
    print("\n| 1024x1024 -> 4096x4096, tile 256 | peak RSS (MiB) | seconds |")
    print("|---|---:|---:|")
    modes = [("SVKR alone", "0")] + ([("full pipeline", "1")] if pipe.has_diffusion else [])
    for label, flag in modes:
        res = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(args.threads), args.weights or "", flag],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {label} | failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode} | |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {label} | {r['peak_mib']:.0f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
