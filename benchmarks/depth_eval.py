"""Depth estimation quality and speed (a benchmark, not a test).

For each evaluation set (Middlebury 30, Lu 6, NYUv2-3 3; never trained on) and each backend,
AbsRel and delta<1.25 after per-image least-squares scale-and-shift alignment in inverse-depth
space (exact procedure: :mod:`ssr.depth.metrics`), averaged over the pictures; then the same
for the degraded inputs SVKR meets (x4 ``noise-jpeg`` degradation, seed ``seed + index``,
bicubic-upsampled back; :func:`ssr.depth.evaluate.degrade_upsample`); then the time of one
512x512 estimate with the given number of CPU threads (median of ``--runs``).

    python benchmarks/depth_eval.py                          # print the markdown tables
    python benchmarks/tables.py --only depth-eval            # the docs' table (docs/depth.md, depth model card)
    python benchmarks/depth_eval.py --backends builtin,vertical,hf:/path/to/dpt --degraded builtin
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Middlebury", "Lu", "NYUv2-3")
#: validation sets (for choosing between trained networks; never the evaluation sets above):
#: the RGBDD hold-out of the depth stage (every 20th pair) and 32 procedural scenes of the
#: stream the depth stage validates on (``data.synth.seed + 1``, see configs/depth_synth_cpu.yaml)
VAL_SETS = ("RGBDD-val", "synth-val")
SYNTH_VAL_SEED, SYNTH_VAL_COUNT, SYNTH_VAL_SIZE = 20261129, 32, (192, 256)
LABELS = {"builtin": "built-in DepthNet", "constant": "constant map (prior)",
          "vertical": "vertical gradient (prior)"}


def machine(device: str, threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPU cores, {threads} torch threads, {gpu}, torch {torch.__version__}"


def load_set(root: Path, name: str) -> list:
    """The pictures of one evaluation or validation set (:data:`SETS`, :data:`VAL_SETS`)."""
    from ssr.depth.data import load_pairs, pair_files

    if name == "RGBDD-val":
        n = len(pair_files(root / "RGBDD"))
        return load_pairs(root / "RGBDD", indices=[i for i in range(n) if i % 20 == 0])
    if name == "synth-val":
        from ssr.depth.synth import SynthConfig, as_samples, load_textures, render_pool

        textures = load_textures(root.parent / "train")
        return as_samples(*render_pool(SYNTH_VAL_COUNT, SYNTH_VAL_SEED, textures, SynthConfig(size=SYNTH_VAL_SIZE)))
    return load_pairs(root / name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/depth", help="folder holding the evaluation sets")
    ap.add_argument("--sets", default=",".join(SETS),
                    help=f"comma-separated sets: {', '.join(SETS + VAL_SETS)} (default: the evaluation sets)")
    ap.add_argument("--backends", default="builtin,constant,vertical", help="comma-separated backend specs")
    ap.add_argument("--degraded", default="builtin", help="backends also evaluated on degraded inputs ('' for none)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of the degradations (default 0)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--runs", type=int, default=10, help="timing runs (0 skips timing)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    from ssr.depth import get_depth_estimator
    from ssr.depth.evaluate import evaluate_estimator, time_estimator
    from ssr.train.data import resolve_data_path

    torch.set_num_threads(args.threads)
    root = resolve_data_path(args.data)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS + VAL_SETS]
    if unknown or not names:
        ap.error(f"unknown set(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(SETS + VAL_SETS)}")
    sets = {name: load_set(root, name) for name in names}
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    degraded = [b.strip() for b in args.degraded.split(",") if b.strip()]
    t0 = time.time()
    results: list[dict] = []
    for spec, deg in [(b, False) for b in backends] + [(b, True) for b in degraded]:
        est = get_depth_estimator(spec, device=args.device)
        row = {"backend": spec, "degraded": deg}
        for name, samples in sets.items():
            row[name] = evaluate_estimator(est, samples, degrade=deg, seed=args.seed)
        results.append(row)
        print(f"evaluated {spec}{' (degraded)' if deg else ''}", file=sys.stderr)

    timing = []
    if args.runs > 0:
        for spec in backends:
            est = get_depth_estimator(spec, device=args.device)
            timing.append((spec, time_estimator(est, 512, args.runs, args.threads)))

    cmd = "python benchmarks/depth_eval.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [f"Measured on {machine(args.device, args.threads)}; `{cmd.strip()}` "
             f"({time.time() - t0:.0f} s).", "",
             "| method | input | " + " | ".join(f"{s} AbsRel ↓ | {s} δ<1.25 ↑" for s in sets) + " |",
             "|---|---|" + "---:|---:|" * len(sets)]
    for r in results:
        label = LABELS.get(r["backend"], r["backend"])
        inp = "x4 degraded (noise-jpeg), bicubic up" if r["degraded"] else "clean"
        cells = " | ".join(f"{r[s]['absrel']:.3f} | {r[s]['delta1']:.3f}" for s in sets)
        lines.append(f"| {label} | {inp} | {cells} |")
    lines.append("")
    lines.append("Pictures per set: " + ", ".join(f"{s} {len(sets[s])}" for s in sets) + ".")
    if timing:
        lines += ["", f"| method | time for one 512x512 picture ({args.threads} threads, median of {args.runs}) |",
                  "|---|---:|"]
        lines += [f"| {LABELS.get(s, s)} | {t * 1000:.0f} ms |" for s, t in timing]
    table = "\n".join(lines)
    print(table)

    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "timing_s": dict(timing),
                                               "machine": machine(args.device, args.threads)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
