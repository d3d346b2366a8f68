#!/usr/bin/env bash
# Peak resident memory of each phase of bloodshot's work on the CPU — training steps,
# batch-norm recalibration, validation, base test, embedding — with and without the
# recalibration, at 64 and 224 px, next to PyTorch's for the same work when $PYTHON has
# torch and torchvision. bloodshot's phases come from BLOODSHOT_MEMORY_PHASES=1 (the kernel's
# peak reset at each phase's start, src/memory.rs); whole processes from `/usr/bin/time -f %M`.
#
#   scripts/memory.sh                         # 64 and 224 px, 20 images per class
#   SIZES=64 LIMIT=8 PYTHON=/path/to/venv/bin/python scripts/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"64 224"}
LIMIT=${LIMIT:-20}
PY=${PYTHON:-python3}
BIN=${BLOODSHOT_BIN:-target/release/bloodshot}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || { echo "memory: no $BIN: run cargo build --release first (or set BLOODSHOT_BIN)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "memory: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

mb() { awk '{ printf "%d", $1 / 1024 }' "$1"; }
phase() { sed -n "s/^memory phase $2: peak \([0-9]*\) MB.*/\1/p" "$1" | sort -n | tail -n1; }

echo "| px | work | bloodshot peak MB | PyTorch peak MB |"
echo "|---|---|---|---|"
for size in $SIZES; do
  for recal in 0 20; do
    runs="$WORK/runs-$size-$recal"
    BLOODSHOT_MEMORY_PHASES=1 /usr/bin/time -f %M -o "$WORK/train-$size-$recal.kb" \
      "$BIN" --runs-dir "$runs" train --objective softmax --epochs 1 --image-size "$size" \
      --limit-per-class "$LIMIT" --bn-recalibration "$recal" > /dev/null 2> "$WORK/train-$size-$recal.err" \
      || { cat "$WORK/train-$size-$recal.err" >&2; exit 1; }
  done
  BLOODSHOT_MEMORY_PHASES=1 /usr/bin/time -f %M -o "$WORK/kshot-$size.kb" \
    "$BIN" --runs-dir "$WORK/runs-$size-20" kshot --k 5 --draws 20 > /dev/null 2> "$WORK/kshot-$size.err" \
    || { cat "$WORK/kshot-$size.err" >&2; exit 1; }
  images=$(( LIMIT * $(ls sample-data/aml | wc -l) ))
  torch() {
    if "$PY" -c 'import torch, torchvision' 2>/dev/null; then
      /usr/bin/time -f %M -o "$WORK/torch.kb" "$PY" scripts/torch_memory.py "$1" "$size" "$images" >/dev/null 2>&1 && mb "$WORK/torch.kb" || echo "–"
    else
      echo "–"
    fi
  }
  E0="$WORK/train-$size-0.err"; E20="$WORK/train-$size-20.err"
  echo "| $size | whole \`train\`, --bn-recalibration 0 | $(mb "$WORK/train-$size-0.kb") | |"
  echo "| $size | whole \`train\`, default (20 passes) | $(mb "$WORK/train-$size-20.kb") | |"
  echo "| $size | training steps (softmax, batch 32) | $(phase "$E20" "training steps") | $(torch train) |"
  echo "| $size | batch-norm recalibration (20 passes) | $(phase "$E20" recalibration) | $(torch recalibration) |"
  echo "| $size | validation | $(phase "$E20" validation) | $(torch validation) |"
  echo "| $size | base test | $(phase "$E20" "base test") | |"
  echo "| $size | embedding (\`kshot\` prepare) | $(phase "$WORK/kshot-$size.err" embedding) | $(torch embedding) |"
  echo "| $size | whole \`kshot\` | $(mb "$WORK/kshot-$size.kb") | |"
  echo "| $size | interpreter + torch, nothing run | | $(torch baseline) |"
done
