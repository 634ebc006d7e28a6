#!/usr/bin/env bash
# One lent-GPU session: train SVKR's networks, then the diffusion stage on top of them, inside a
# fixed wall-clock window, and bring everything back in a few files.
#
#   bash scripts/gpu_session.sh            # on the GPU machine, from the repository root
#
# Here, beforehand: python scripts/make_train_pack.py (-> .pack/train, the training images) and
# the diffusers wheels in .whl/ (see README "Training on a lent GPU"); carry .pack and .whl.
# Phase 1 (SSR_PHASE1_S seconds of training, default 230): stage 2 (SSR_NONBLIND_CONFIG, default
# configs/nonblind_gpu_more.yaml: continue the shipped non-blind net; configs/nonblind_gpu.yaml
# starts that architecture from scratch) and, with SSR_DKENET=1, stage 1 (configs/dkenet_gpu.yaml,
# from the shipped DKENet; it did not beat the CPU one on 2026-11-27) beside it on the one GPU. Then a pipeline is assembled from them, and phase 2
# trains AMF + the denoiser (configs/amf_gpu.yaml) on that frozen SVKR with what is left of
# SSR_SECONDS (default 540) minus a reserve for the GPU speed benchmark and packing.
# SSR_PHASE1_S=0 skips phase 1 (the diffusion stage then trains on the shipped SVKR);
# SSR_AMF_INIT=FOLDER starts the diffusion stage from those weights (e.g. a carried earlier run).
# Results: $OUT/phase1.tgz (the moment phase 1 ends), $OUT/phase2.tgz, $OUT/*.log, $OUT/speed.md.
# SSR_PRIOR=1 instead continues the two prior-backed sets side by side (configs/prior_*_gpu.yaml,
# from the shipped deltas) for the whole window and brings back $OUT/prior.tgz; the pretrained
# trunk's ncnn files must be on the machine (SSR_PRIOR_DIR, default .prior; see docs/prior.md for
# how to get 33 MB there within the carry limit). SSR_PRIOR_FIDELITY_CONFIG picks the fidelity
# set's config (default configs/prior_fidelity_gpu.yaml; configs/prior_fidelity_gpu_kernelmix.yaml
# teaches it to read kernel codes) and SSR_PRIOR_FIDELITY_INIT a weights folder to start it from
# (e.g. a carried candidate of research/candidates/); SSR_PRIOR_PERCEPTUAL_CONFIG and
# SSR_PRIOR_PERCEPTUAL_INIT do the same for the perceptual set (default configs/prior_perceptual_gpu.yaml);
# SSR_PRIOR_SETS="fidelity" trains that set alone.
set -u
START=$(date +%s)
TOTAL=${SSR_SECONDS:-540}
P1=${SSR_PHASE1_S:-230}
OUT=${OUT:-runs/gpu_out}
R=${SSR_RUNS:-runs/gpu}
mkdir -p "$OUT" "$R"
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
if [ ! -e ../shared/datasets/train ]; then
  mkdir -p ../shared/datasets 2>/dev/null && ln -sfn "$PWD/.pack/train" ../shared/datasets/train
  # in case the parent folder is read-only: $SSR_DATA/../shared/datasets/train is searched too
  mkdir -p .pack/_ .pack/shared/datasets && ln -sfn "$PWD/.pack/train" .pack/shared/datasets/train
  export SSR_DATA=$PWD/.pack/_
fi
DEVICE=${SSR_DEVICE:-cuda}
export SSR_PRIOR_DIR=${SSR_PRIOR_DIR:-$PWD/.prior}
if [ "${SSR_PRIOR:-0}" = 1 ]; then
  B=$(( TOTAL - 40 ))
  SETS=${SSR_PRIOR_SETS:-fidelity perceptual}
  for set in $SETS; do
    U=$(echo "$set" | tr a-z A-Z); CV=SSR_PRIOR_${U}_CONFIG; IV=SSR_PRIOR_${U}_INIT; INIT=()
    CFG=${!CV:-configs/prior_${set}_gpu.yaml}
    [ -n "${!IV:-}" ] && INIT=(--init "${!IV}")
    python3 -m ssr train prior --config "$CFG" --out "$R/prior_$set" --time-budget "$B" \
      --device "$DEVICE" "${INIT[@]}" > "$OUT/prior_$set.log" 2>&1 &
  done
  wait
  tar czf "$OUT/prior.tgz" --exclude=checkpoints --exclude=depth_cache.pt --exclude=tb -C "$R" $(for s in $SETS; do echo prior_$s; done)
  ls -la "$OUT" > "$OUT/status.txt"
  exit 0
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)"; } > "$OUT/env.txt" 2>&1

if [ "$P1" -gt 0 ]; then
  NBCFG=${SSR_NONBLIND_CONFIG:-configs/nonblind_gpu_more.yaml}
  python3 -m ssr train nonblind --config "$NBCFG" --out "$R/nonblind" --time-budget "$P1" --device "$DEVICE" > "$OUT/nonblind.log" 2>&1 &
  NB=$!
  if [ "${SSR_DKENET:-0}" = 1 ]; then
    python3 -m ssr train dkenet --config configs/dkenet_gpu.yaml --out "$R/dkenet" --time-budget "$P1" --device "$DEVICE" > "$OUT/dkenet.log" 2>&1 &
    DK=$!
    wait $DK; echo "dkenet exit $?" >> "$OUT/status.txt"
  fi
  wait $NB; echo "nonblind exit $?" >> "$OUT/status.txt"
fi
echo "phase 1 done at +$(( $(date +%s) - START )) s" >> "$OUT/status.txt"
[ "$P1" -gt 0 ] && tar czf "$OUT/phase1.tgz" --exclude=checkpoints --exclude=depth_cache.pt --exclude=tb -C "$R" $(cd "$R" && ls -d nonblind dkenet 2>/dev/null) 2>>"$OUT/status.txt"

NBW=$R/nonblind/final; [ -f "$NBW/model.safetensors" ] || NBW=src/ssr/weights/svkr/nonblind
DKW=$R/dkenet/final; [ -f "$DKW/model.safetensors" ] || DKW=src/ssr/weights/svkr/dkenet
python3 scripts/ship_pipeline.py --dkenet "$DKW" --nonblind "$NBW" --out "$R/pipeline" >> "$OUT/status.txt" 2>&1

LEFT=$(( TOTAL - ($(date +%s) - START) - 75 ))
echo "phase 2 budget ${LEFT} s (svkr: $DKW, $NBW)" >> "$OUT/status.txt"
if [ "$LEFT" -gt 30 ]; then
  INIT=(); [ -n "${SSR_AMF_INIT:-}" ] && INIT=(--init "$SSR_AMF_INIT")
  python3 -m ssr train amf --config configs/amf_gpu.yaml --out "$R/amf" --time-budget "$LEFT" --device "$DEVICE" \
    --init-pipeline "$R/pipeline" "${INIT[@]}" > "$OUT/amf.log" 2>&1
  echo "amf exit $?" >> "$OUT/status.txt"
fi
W=$R/pipeline
[ -f "$R/amf/pipeline/diffusion/model.safetensors" ] && W=$R/amf/pipeline
W=$(cd "$W" && pwd)  # absolute: the benchmark runs from benchmarks/
(cd benchmarks && timeout 60 python3 pipeline_bench.py --device "$DEVICE" --runs 10 --weights "$W") > "$OUT/speed.md" 2>&1
echo "end at +$(( $(date +%s) - START )) s" >> "$OUT/status.txt"
tar czf "$OUT/phase2.tgz" --exclude=checkpoints --exclude=depth_cache.pt --exclude=tb --exclude=pipeline -C "$R" amf 2>>"$OUT/status.txt"
ls -la "$OUT" >> "$OUT/status.txt"
