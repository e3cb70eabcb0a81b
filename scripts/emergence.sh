#!/usr/bin/env bash
# Emergence over training: train the default MLP (configs/default.yaml) and the small GPT-2
# (configs/gpt2.yaml) with a weights-only snapshot every few hundred steps, probe every
# saved step, and copy the two emergence figures to docs/figures/. Resumable: a finished
# run is not trained again, an unfinished one resumes from its last checkpoint.
#   scripts/emergence.sh [OUT_DIR] [GPT2_STEPS]   (defaults: runs/emergence, 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/emergence}
GPT2_STEPS=${2:-2000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # small models on a busy CPU: one thread is faster

train() {  # RUN CONFIG OVERRIDES...
  local run=$1 config=$2
  shift 2
  [ -d "$run/final" ] || probekit train --config "$config" --run-dir "$run" --no-progress "$@"
}

train "$OUT/mlp" configs/default.yaml train.save_model_every=200
probekit probe "$OUT/mlp" --steps all --no-progress
cp "$OUT/mlp/emergence/emergence.png" docs/figures/emergence_mlp.png

train "$OUT/gpt2" configs/gpt2.yaml train.save_model_every=100 "train.steps=$GPT2_STEPS"
probekit probe "$OUT/gpt2" --steps all --no-progress
cp "$OUT/gpt2/emergence/emergence.png" docs/figures/emergence_gpt2.png
