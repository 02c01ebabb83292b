#!/usr/bin/env bash
# Trains the shipped synthetic checkpoints: every registered architecture (width-reduced where the full
# model is over 5 MB) on the default synthetic set, then scores each once on its test split and records
# the result in the checkpoint's JSON. Usage (from the repository root):
#   bash checkpoints/train_synthetic.sh                 # CPU
#   DEVICE=cuda EPOCHS=30 bash checkpoints/train_synthetic.sh
# Environment: DEVICE (cpu), EPOCHS (10), OUT (checkpoints/synthetic), MANIFEST (the cached default set).
set -euo pipefail
DEVICE=${DEVICE:-cpu}
EPOCHS=${EPOCHS:-10}
OUT=${OUT:-checkpoints/synthetic}
PY=${PYTHON:-python}
MANIFEST=${MANIFEST:-$($PY -c "from fer_explain.data.synthetic import default_synthetic_manifest as d; print(d().root / 'manifest.csv')")}
mkdir -p "$OUT"
ONLY=${ONLY:-}   # space-separated model names to (re)train; empty = all
train() {  # name, extra arguments...
  local name=$1; shift
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
  $PY -m fer_explain train "$MANIFEST" --model "$name" --recipe quick --out "$OUT/$name" --device "$DEVICE" \
    --set epochs="$EPOCHS" --set "transform='seed003'" \
    --notes "trained on the default synthetic set (fer_explain.data.synthetic.default_synthetic_manifest())" "$@"
  $PY -m fer_explain evaluate "$OUT/$name" "$MANIFEST" --split test --device "$DEVICE" --record
}
train deep_emotion
train se_resnet18 --channels 1 --model-arg width=0.25 --model-arg input_size=48 --model-arg stem=fer \
  --set epochs=15 --set time_budget_minutes=35 \
  --notes "width-reduced SE-ResNet-18 with the FER stem (stem='fer', width 0.25, 48x48 grey input; first-stage SE maps 24x24), trained with the quick recipe on the default synthetic set"
train vgg_fer --model-arg width=0.25 \
  --notes "width-reduced variant (width 0.25) trained on the default synthetic set"
train resemotenet --model-arg width=0.1 \
  --notes "width-reduced variant (width 0.1; grey faces resized to 64x64 and repeated to 3 channels) trained on the default synthetic set"
train densenet_bc --model-arg layers_per_block=4 --model-arg input_size=48 --size 48 \
  --notes "reduced variant (4 bottleneck layers per dense block instead of 16, 48x48 input: the full model trains at ~2 images/s on one CPU thread) trained on the default synthetic set"
