#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, runs bloodshot's throughput benchmark on the
# Vulkan build (and the CUDA build when one was built), then the same work in
# PyTorch/torchvision when `import torch` works, and prints a ratio table last.
#
# Build the benchmark binaries first (on any x86-64 machine for Vulkan; on the GPU server
# for CUDA, whose build downloads LLVM):
#   cargo bench --no-run --features vulkan --target-dir target/vulkan
#   cargo bench --no-run --features cuda   --target-dir target/cuda      # optional
# or point BLOODSHOT_VULKAN_BENCH / BLOODSHOT_CUDA_BENCH at the binaries.
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-20}"
OUT="${OUT:-gpu-check-out}"
mkdir -p "$OUT"

find_bench() { ls -t "$1"/release/deps/throughput-* 2>/dev/null | grep -v '\.d$' | head -n1; }
VULKAN_BENCH="${BLOODSHOT_VULKAN_BENCH:-$(find_bench target/vulkan)}"
CUDA_BENCH="${BLOODSHOT_CUDA_BENCH:-$(find_bench target/cuda)}"

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not available"
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" | head -4

run_bench() { # name binary device
  local name="$1" bin="$2" dev="$3"
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "== $name: no benchmark binary, skipped"; return
  fi
  echo "== $name ($bin, BENCH_DEVICE=$dev, $STEPS steps)"
  local t0=$(date +%s)
  BENCH_DEVICE="$dev" BENCH_STEPS="$STEPS" BENCH_OBJECTIVES=aam-consistency BENCH_QUICK=1 \
    timeout "${BENCH_TIMEOUT:-420}" "$bin" 2>&1 | tee "$OUT/$name.txt"
  echo "($name took $(( $(date +%s) - t0 )) s)"
}

run_bench vulkan "$VULKAN_BENCH" vulkan:0
run_bench cuda "$CUDA_BENCH" cuda:0

if python3 -c "import torch, torchvision" 2>/dev/null; then
  echo "== pytorch"
  timeout "${BENCH_TIMEOUT:-420}" python3 scripts/torch_bench.py "$STEPS" 2>&1 | tee "$OUT/torch.txt"
else
  echo "== pytorch: not installed (python3 -c 'import torch' fails), skipped"
fi

echo
echo "== summary (images/s; ratio = bloodshot / PyTorch)"
value() { grep -h "^RESULT $2" "$OUT/$1.txt" 2>/dev/null | sed -n "s/.*$3=\([0-9.]*\).*/\1/p" | head -n1; }
TT=$(value torch torch_train_aam-consistency images_per_s)
TE=$(value torch torch_embed images_per_s)
printf "%-10s %14s %14s %16s %12s %12s\n" backend first_step_s train_img_s embed_img_s train_ratio embed_ratio
for b in vulkan cuda; do
  [ -f "$OUT/$b.txt" ] || continue
  F=$(value "$b" train_aam-consistency first_s); T=$(value "$b" train_aam-consistency images_per_s); E=$(value "$b" embed images_per_s)
  RT=$( [ -n "$TT" ] && [ -n "$T" ] && python3 -c "print(f'{$T/$TT:.2f}')" || echo "-")
  RE=$( [ -n "$TE" ] && [ -n "$E" ] && python3 -c "print(f'{$E/$TE:.2f}')" || echo "-")
  printf "%-10s %14s %14s %16s %12s %12s\n" "$b" "${F:--}" "${T:--}" "${E:--}" "$RT" "$RE"
done
[ -n "$TT" ] && printf "%-10s %14s %14s %16s %12s %12s\n" pytorch "$(value torch torch_train_aam-consistency first_s)" "$TT" "$TE" 1.00 1.00
