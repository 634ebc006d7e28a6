#!/usr/bin/env bash
# Regenerate the measured tables of docs/prior.md (and the README's quality table) for a pipeline
# folder (default: the shipped weights), on this machine. Needs ../shared/datasets and the
# realesrgan extra (ncnn). About an hour on 2 CPU cores; bench cells are reused between runs.
#
#   bash benchmarks/prior_tables.sh [WEIGHTS] [OUT]        # OUT default runs/prior_tables
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(cd "${1:-src/ssr/weights}" && pwd)
OUT=${2:-runs/prior_tables}
T=${SSR_THREADS:-2}
mkdir -p "$OUT"
B=(--weights "$W" --metrics psnr ssim niqe --threads "$T" --crops 0 --quiet)

# 1. choices, on validation pictures only (BSDS500-test/10*, held out of the prior stage's training)
V=../shared/datasets/train/BSDS500-test:noise-jpeg
ssr bench --data "$V" --limit 22 --methods realesrgan ssr-svkr ssr-fidelity ssr-realism-0.25 ssr-realism-0.5 \
  ssr-realism-0.75 ssr-realism-1 --out "$OUT/val" "${B[@]}"
python research/choose_realism.py "$OUT/val/per_image.csv" | tee "$OUT/choose_realism.md"

# 2. quality on the evaluation sets: peers, the two modes, the realism curve, the ablation rows
ssr bench --data realsr bsd100:noise-jpeg --methods bicubic realesrgan realsr-df2k ssr-svkr ssr-fidelity \
  ssr-realism-0.25 ssr-realism-0.5 ssr-realism-0.75 ssr-realism-1 ssr ssr-diffusion-0.25 \
  ssr-prior-nocond ssr-prior-kernels ssr-prior-t1 ssr-prior \
  ssr-fidelity-nocond ssr-fidelity-kernels ssr-fidelity-t1 --out "$OUT/eval" "${B[@]}"

# 3. speed, side by side with Real-ESRGAN (ncnn) in one run
(cd benchmarks && python pipeline_bench.py --threads "$T" --runs 3 --weights "$W" --skip-memory) \
  | tee "$OUT/speed.md"
echo "tables: $OUT/val/results.md $OUT/choose_realism.md $OUT/eval/results.md $OUT/speed.md"
