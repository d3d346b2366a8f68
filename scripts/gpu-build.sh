#!/usr/bin/env bash
# Builds the one binary `scripts/gpu-check.sh` carries to an NVIDIA machine: the headless CLI
# with `cuda` and `wgpu`, release profile, stripped and compressed with xz into
# target/gpu-check/bloodshot-gpu.xz (git-ignored; the GPU check unpacks it). Needs no GPU and
# no internet beyond PyPI (static LLVM 23 through scripts/cuda-llvm.sh). Measured here on 2
# cores: about an hour for a fresh build.
#
# Usage: scripts/gpu-build.sh            (NICE=19 by default: it runs beside other work)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/cuda-llvm.sh --env)"
OUT=target/gpu-check
mkdir -p "$OUT"
t0=$(date +%s)
nice -n "${NICE:-19}" cargo build --release --no-default-features --features cuda,wgpu \
  --target-dir target/gpu-build --bin bloodshot
BIN=target/gpu-build/release/bloodshot
echo "== built in $(( $(date +%s) - t0 )) s: $(du -m "$BIN" | cut -f1) MB"
strip -o "$OUT/bloodshot-gpu" "$BIN"
echo "== stripped: $(du -m "$OUT/bloodshot-gpu" | cut -f1) MB"
xz -T0 -6 -f -k "$OUT/bloodshot-gpu"
rm -f "$OUT/bloodshot-gpu"
echo "== $OUT/bloodshot-gpu.xz: $(du -m "$OUT/bloodshot-gpu.xz" | cut -f1) MB (carry target/gpu-check to the GPU machine)"
