#!/usr/bin/env bash
# Whole-loop validation of a DKENet candidate (issue 17): the shipped pipeline with the candidate's
# DKENet, on the 22 validation pictures (train/BSDS500-test/10*, held out of every training) x 9
# cells (noise + JPEG and blur-only along depth, smooth, piecewise and radial fields; noise + JPEG
# along the built-in depth), kernels and SR scored by `ssr bench --kernels --sr`, in two one-thread
# processes; then the candidate's cells beside the baseline's (research/kernel_cells.py).
#
#   bash research/dkenet_whole_loop.sh WEIGHTS LABEL [BASELINE]
#
# WEIGHTS  a DKENet weights folder (config.json + model.safetensors), e.g. runs/X/final
# LABEL    names the pipeline folder runs/pipe_LABEL and the bench folders runs/v22_LABEL_{n,a,b}
# BASELINE label=comma-separated bench folders to compare with (default: the shipped DKENet's,
#          shipped=runs/v22_shipped_n,runs/v22_shipped_a,runs/v22_shipped_b, made by running this
#          script with WEIGHTS src/ssr/weights/svkr/dkenet and LABEL shipped)
# 10-35 min on two cores. Set V to validate on another folder of pictures, M to score another
# estimator of `ssr bench --kernels` (default svkr; e.g. M=svkr-t1 for the kernels of round 1).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash research/dkenet_whole_loop.sh WEIGHTS LABEL [BASELINE]" >&2
  exit 2
fi
W=$1 L=$2
B=${3:-shipped=runs/v22_shipped_n,runs/v22_shipped_a,runs/v22_shipped_b}
V=${V:-../shared/datasets/train/BSDS500-test}
M=${M:-svkr}
export OMP_NUM_THREADS=1
python research/prior_checkpoint.py "runs/pipe_$L" --dkenet "$W"
K=(ssr bench --kernels --sr --limit 22 --methods "$M" --threads 1 --quiet --weights "runs/pipe_$L")
"${K[@]}" --data "$V:noise-jpeg" --field depth smooth piecewise radial --out "runs/v22_${L}_n" &
n=$!
"${K[@]}" --data "$V:blur-only" --field depth smooth piecewise radial --out "runs/v22_${L}_a"
"${K[@]}" --data "$V:noise-jpeg@builtin" --field depth --out "runs/v22_${L}_b"
wait $n
if [ "$L" != "${B%%=*}" ]; then
  python research/kernel_cells.py "$B" "$L=runs/v22_${L}_n,runs/v22_${L}_a,runs/v22_${L}_b@$M"
fi
