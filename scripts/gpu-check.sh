#!/usr/bin/env bash
# GPU check, the one prepared script for an NVIDIA machine without internet: binaries built
# elsewhere (x86-64) and copied over. Probes the NVIDIA Vulkan driver, runs bloodshot's
# throughput benchmark on the `wgpu` (WGSL) and `vulkan` (SPIR-V) backends — and CUDA when a
# CUDA build is present — at 64 and 224 px, the same work in PyTorch/torchvision when
# `import torch` works, and prints a ratio table last.
#
# Build the benchmark binary first (one binary holds wgpu and vulkan):
#   cargo bench --no-run --features vulkan --target-dir target/gpu
#   cargo bench --no-run --features cuda   --target-dir target/cuda      # optional, on the server
# or point BLOODSHOT_GPU_BENCH / BLOODSHOT_CUDA_BENCH at the binaries.
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-20}"
OUT="${OUT:-gpu-check-out}"
SIZES="${SIZES:-64 224}"
mkdir -p "$OUT"

find_bench() { ls -t "$1"/release/deps/throughput-* 2>/dev/null | grep -v '\.d$' | head -n1; }
GPU_BENCH="${BLOODSHOT_GPU_BENCH:-$(find_bench target/gpu)}"
CUDA_BENCH="${BLOODSHOT_CUDA_BENCH:-$(find_bench target/cuda)}"

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not available"
echo "== NVIDIA Vulkan driver"
ICD=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -n1)
if [ -n "$ICD" ]; then echo "ICD manifest: $ICD"; else echo "no nvidia_icd.json: the wgpu/vulkan runs will find no NVIDIA adapter"; fi
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName|deviceType" | head -6

run_bench() { # name binary device size
  local name="$1" bin="$2" dev="$3" size="$4"
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "== $name $size px: no benchmark binary, skipped"; return
  fi
  echo "== $name $size px ($bin, BENCH_DEVICE=$dev, $STEPS steps)"
  local t0=$(date +%s)
  BENCH_DEVICE="$dev" BENCH_SIZE="$size" BENCH_STEPS="$STEPS" BENCH_OBJECTIVES=aam-consistency BENCH_QUICK=1 \
    timeout "${BENCH_TIMEOUT:-300}" "$bin" 2>&1 | tee "$OUT/$name-$size.txt"
  echo "($name $size px took $(( $(date +%s) - t0 )) s)"
}

for size in $SIZES; do
  run_bench wgpu "$GPU_BENCH" wgpu:0 "$size"
  run_bench vulkan "$GPU_BENCH" vulkan:0 "$size"
  run_bench cuda "$CUDA_BENCH" cuda:0 "$size"
  if python3 -c "import torch, torchvision" 2>/dev/null; then
    echo "== pytorch $size px"
    timeout "${BENCH_TIMEOUT:-300}" python3 scripts/torch_bench.py "$STEPS" "$size" aam-consistency 64 2>&1 | tee "$OUT/torch-$size.txt"
  else
    echo "== pytorch: not installed (python3 -c 'import torch' fails), skipped"
  fi
done

echo
echo "== summary (images/s; ratio = bloodshot / PyTorch)"
value() { grep -h "^RESULT $2" "$OUT/$1.txt" 2>/dev/null | sed -n "s/.*$3=\([0-9.]*\).*/\1/p" | head -n1; }
printf "%-8s %5s %13s %12s %12s %12s %12s\n" backend px first_step_s train_img_s embed_img_s train_ratio embed_ratio
for size in $SIZES; do
  TT=$(value "torch-$size" torch_train_aam-consistency images_per_s)
  TE=$(value "torch-$size" torch_embed images_per_s)
  for b in wgpu vulkan cuda; do
    [ -f "$OUT/$b-$size.txt" ] || continue
    F=$(value "$b-$size" train_aam-consistency first_s); T=$(value "$b-$size" train_aam-consistency images_per_s); E=$(value "$b-$size" embed images_per_s)
    RT=$( [ -n "$TT" ] && [ -n "$T" ] && python3 -c "print(f'{$T/$TT:.2f}')" || echo "-")
    RE=$( [ -n "$TE" ] && [ -n "$E" ] && python3 -c "print(f'{$E/$TE:.2f}')" || echo "-")
    printf "%-8s %5s %13s %12s %12s %12s %12s\n" "$b" "$size" "${F:--}" "${T:--}" "${E:--}" "$RT" "$RE"
  done
  [ -n "$TT" ] && printf "%-8s %5s %13s %12s %12s %12s %12s\n" pytorch "$size" "$(value "torch-$size" torch_train_aam-consistency first_s)" "$TT" "$TE" 1.00 1.00
done
