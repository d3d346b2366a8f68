#!/usr/bin/env bash
# GPU check: the one prepared script for an NVIDIA machine without internet or Python. It
# runs one binary built elsewhere (x86-64) by scripts/gpu-build.sh — the headless CLI with
# `cuda` and `wgpu`, stripped, xz-compressed in target/gpu-check/bloodshot-gpu.xz — so that
# the whole check fits in one call of under 10 minutes:
#
#   1. nvidia-smi, then NVML readings every 0.5 s for the whole run (nvml.csv);
#   2. `bloodshot devices` (text and JSON);
#   3. `bloodshot bench`: embedding throughput and 20 aam-consistency training steps (first
#      step timed apart: kernels are compiled then) at 64 and 224 px on cuda:0 and wgpu;
#   4. a tiny end-to-end `train` + `kshot` on the bundled sample data on cuda:0;
#   5. the same throughput in PyTorch when `import torch` works there (optional);
#   6. a summary table.
#
# On the development machine:  scripts/gpu-build.sh    (then carry target/gpu-check)
# On the GPU machine:          scripts/gpu-check.sh     (OUT=gpu-check-out by default)
# BLOODSHOT_GPU_BIN=path uses an unpacked binary instead; DEVICES, SIZES, STEPS and
# BENCH_TIMEOUT (seconds per measurement) change the plan.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-check-out}"
STEPS="${STEPS:-20}"
SIZES="${SIZES:-64 224}"
DEVICES="${DEVICES:-cuda:0 wgpu}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-100}"
mkdir -p "$OUT"
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 )) s"; }

echo "== binary"
BIN="${BLOODSHOT_GPU_BIN:-}"
if [ -z "$BIN" ]; then
  PACKED=target/gpu-check/bloodshot-gpu.xz
  if [ ! -f "$PACKED" ]; then
    echo "no $PACKED: build it with scripts/gpu-build.sh on the development machine and carry target/gpu-check"
    exit 1
  fi
  if ! command -v xz >/dev/null; then
    echo "xz is not installed here: unpack $PACKED elsewhere (xz -dk) and set BLOODSHOT_GPU_BIN"
    exit 1
  fi
  BIN="$OUT/bloodshot-gpu"
  xz -dc "$PACKED" > "$BIN" && chmod +x "$BIN" || { echo "could not unpack $PACKED"; exit 1; }
fi
echo "$BIN ($(du -m "$BIN" | cut -f1) MB unpacked, $(elapsed))"

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi not available"
NVML_PID=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu \
    --format=csv,noheader,nounits -lms 500 > "$OUT/nvml.csv" 2>/dev/null &
  NVML_PID=$!
fi
stop_nvml() { [ -n "$NVML_PID" ] && kill "$NVML_PID" 2>/dev/null; NVML_PID=""; }
trap stop_nvml EXIT

echo "== bloodshot devices"
"$BIN" devices 2>&1 | tee "$OUT/devices.txt"
"$BIN" devices --json > "$OUT/devices.json" 2>&1

mark() { echo "$(date +%s) $1" >> "$OUT/phases.txt"; }
: > "$OUT/phases.txt"
for size in $SIZES; do
  for dev in $DEVICES; do
    name="${dev%%:*}-$size"
    echo "== bench $dev $size px ($STEPS steps, at most $BENCH_TIMEOUT s; $(elapsed))"
    mark "start $name"
    timeout "$BENCH_TIMEOUT" "$BIN" bench --device "$dev" --size "$size" --steps "$STEPS" 2>&1 | tee "$OUT/$name.txt"
    rc=${PIPESTATUS[0]}
    mark "end $name"
    [ "$rc" = 124 ] && echo "(timed out after $BENCH_TIMEOUT s)" | tee -a "$OUT/$name.txt"
  done
done

echo "== end to end on cuda:0: train 1 epoch (64 px, 8 images/class) + kshot (k 5, 20 draws) ($(elapsed))"
mark "start e2e"
RUNS="$OUT/runs"
timeout "${E2E_TIMEOUT:-150}" "$BIN" --runs-dir "$RUNS" train --device cuda:0 --objective aam-consistency \
  --epochs 1 --image-size 64 --batch-size 16 --limit-per-class 8 --bn-recalibration 2 2>&1 | tail -n 5 | tee "$OUT/e2e-train.txt"
timeout 60 "$BIN" --runs-dir "$RUNS" kshot --device cuda:0 --k 5 --draws 20 2>&1 | tail -n 8 | tee "$OUT/e2e-kshot.txt"
mark "end e2e"

if command -v python3 >/dev/null && python3 -c "import torch, torchvision" 2>/dev/null; then
  for size in $SIZES; do
    echo "== pytorch $size px"
    timeout "$BENCH_TIMEOUT" python3 scripts/torch_bench.py "$STEPS" "$size" aam-consistency 64 2>&1 | tee "$OUT/torch-$size.txt"
  done
else
  echo "== pytorch: not importable here (optional), skipped"
fi
stop_nvml

echo
echo "== summary (images/s; ratio = bloodshot / PyTorch when PyTorch ran)"
value() { grep -h "^RESULT $2" "$OUT/$1.txt" 2>/dev/null | sed -n "s/.*$3=\([0-9.]*\).*/\1/p" | head -n1; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
printf "%-7s %5s %12s %12s %14s %12s %12s\n" backend px first_step_s train_img_s first_embed_s embed_img_s train_ratio
for size in $SIZES; do
  TT=$(value "torch-$size" torch_train_aam-consistency images_per_s)
  for dev in $DEVICES; do
    name="${dev%%:*}-$size"
    [ -f "$OUT/$name.txt" ] || continue
    F=$(value "$name" train_aam-consistency first_s); T=$(value "$name" train_aam-consistency images_per_s)
    FE=$(value "$name" embed_folded first_s); E=$(value "$name" embed_folded images_per_s)
    printf "%-7s %5s %12s %12s %14s %12s %12s\n" "${dev%%:*}" "$size" "${F:--}" "${T:--}" "${FE:--}" "${E:--}" "$(ratio "$T" "$TT")"
  done
  [ -n "$TT" ] && printf "%-7s %5s %12s %12s %14s %12s %12s\n" pytorch "$size" "$(value "torch-$size" torch_train_aam-consistency first_s)" "$TT" - "$(value "torch-$size" torch_embed images_per_s)" 1.00
done
if [ -s "$OUT/nvml.csv" ]; then
  echo
  echo "== NVML over the run ($(wc -l < "$OUT/nvml.csv") readings): peak memory and mean utilisation"
  awk -F', ' '{ if ($3 > m) m = $3; u += $2; n++ } END { if (n) printf "peak memory used %d MiB of %d MiB, mean GPU utilisation %.0f %%\n", m, $4, u / n }' "$OUT/nvml.csv"
fi
echo "(whole check: $(elapsed); files in $OUT)"
