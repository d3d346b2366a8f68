#!/usr/bin/env bash
# bloodshot (burn's flex CPU backend) against PyTorch on the same machine, one after the
# other: embedding (eval, no grad, the batch size the k-shot path uses on a CPU) and one
# training step per objective (batch 32), at 64 and 224 px. Prints a markdown table with
# rows `embed …` / `train …` and ratios written `0.21×` (bloodshot / PyTorch images/s).
#
#   scripts/cpu-bench.sh              # all objectives, 64 and 224 px, 4 steps each
#   SIZES=224 OBJECTIVES=softmax STEPS=3 scripts/cpu-bench.sh
#   PYTHON=/path/to/venv/bin/python scripts/cpu-bench.sh
#   BUSY=1 scripts/cpu-bench.sh       # each side measured quiet, then beside one busy process
#   BUSY=paired scripts/cpu-bench.sh  # quiet and busy steps alternating within each process
#   ROUNDS=3 scripts/cpu-bench.sh     # alternate the two sides three times; report medians
#
# ROUNDS=N (default 1): each measurement is taken N times, bloodshot and PyTorch alternating
# (bloodshot, PyTorch, bloodshot, …), and the tables give each side's median over the rounds,
# plus each round's ratio. On a VM whose speed drifts by tens of percent over minutes, a
# ratio from two measurements minutes apart says more about the drift than about either side;
# alternating in short rounds exposes both to the same drift.
#
# BUSY=1: every measurement runs twice, first quiet, then with one `nice -n 19` process
# spinning on one core for the whole measurement (both sides alike, as a shared GPU server's
# data loaders or monitoring would), and a second table gives each side's loss
# (1 − busy/quiet, of the medians, then each round's) and the ratio of the two losses
# (bloodshot's / PyTorch's). Within a round the order is bloodshot quiet, PyTorch quiet,
# bloodshot busy, PyTorch busy, so each round's loss compares measurements minutes apart,
# not a quiet phase with a busy one that ran after every quiet round.
#
# BUSY=paired: one `nice -n 19` spinner for the whole run, stopped (SIGSTOP) except while a
# busy step or batch runs: each process alternates its timed steps and batches quiet, busy,
# busy, quiet, … (the bench continues and stops the spinner, `BENCH_BUSY_PID`; PyTorch's
# script likewise) and reports both medians, so each loss compares steps seconds apart in one
# process. Use at least STEPS=9 (four quiet and four busy steps after the first). Same tables.
#
# Without PyTorch (`$PYTHON -c 'import torch, torchvision'` fails) it says so and prints
# bloodshot's column only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"64 224"}
OBJECTIVES=${OBJECTIVES:-softmax,aam,aam-consistency}
STEPS=${STEPS:-4}
ROUNDS=${ROUNDS:-1}
PY=${PYTHON:-python3}
OUT=$(mktemp -d)

echo "== building the bench (release)" >&2
cargo bench --bench throughput --no-run >&2 2>&1 | tail -n 1 >&2

HAVE_TORCH=1
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  HAVE_TORCH=0
  echo "PyTorch is not installed for $PY (\`$PY -c 'import torch, torchvision'\` fails): measuring bloodshot only; set PYTHON to a Python with torch and torchvision for the ratios." >&2
fi

BUSY_PID=""
busy_start() { nice -n 19 sh -c 'while :; do :; done' & BUSY_PID=$!; }
busy_stop() {
  [ -n "$BUSY_PID" ] || return 0
  # A stopped spinner (BUSY=paired) gets the TERM only once continued.
  kill "$BUSY_PID" 2>/dev/null; kill -CONT "$BUSY_PID" 2>/dev/null
  wait "$BUSY_PID" 2>/dev/null || true; BUSY_PID=""
}
# A stopped or failed run must not leave its spinner behind to slow whatever runs next.
trap busy_stop EXIT
trap 'exit 130' INT TERM
MODES="quiet"
PAIRED_PID=""
case "${BUSY:-0}" in
  0) ;;
  1) MODES="quiet busy" ;;
  paired) busy_start; kill -STOP "$BUSY_PID"; PAIRED_PID=$BUSY_PID ;;
  *) echo "BUSY=$BUSY: expected 0, 1 or paired" >&2; exit 2 ;;
esac

for size in $SIZES; do
  for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
      suffix=""
      if [ "$mode" = busy ]; then suffix="-busy"; busy_start; fi
      rust="$OUT/rust-$size$suffix.r$round.txt"; torch="$OUT/torch-$size$suffix.r$round.txt"
      echo "== bloodshot, $size px ($mode, round $round of $ROUNDS)" >&2
      BENCH_BUSY_PID=$PAIRED_PID BENCH_DEVICE=cpu BENCH_SIZE=$size BENCH_STEPS=$STEPS \
        BENCH_OBJECTIVES=$OBJECTIVES cargo bench -q --bench throughput > "$rust" 2>&1 \
        || { busy_stop; cat "$rust" >&2; exit 1; }
      if [ "$HAVE_TORCH" = 1 ]; then
        batch=$(sed -n 's/^RESULT embed_folded batch=\([0-9]*\).*/\1/p' "$rust" | head -n1)
        echo "== PyTorch, $size px (embedding batch $batch; $mode, round $round of $ROUNDS)" >&2
        "$PY" scripts/torch_bench.py "$STEPS" "$size" "$OBJECTIVES" "${batch:-16}" "$PAIRED_PID" > "$torch" 2>&1 \
          || { busy_stop; cat "$torch" >&2; exit 1; }
      fi
      if [ "$mode" = busy ]; then busy_stop; fi
    done
  done
done
busy_stop
# BUSY=paired: each output's busy figures become a "-busy" output, as BUSY=1 writes them.
if [ -n "$PAIRED_PID" ]; then
  for f in "$OUT"/*.r*.txt; do
    b=$(basename "$f"); sed -E 's/images_per_s=[0-9.]+ busy_per_s=([0-9.]+)/images_per_s=\1/' "$f" \
      > "$OUT/${b%%.r*}-busy.r${b##*.r}"
  done
fi

# One round's figure, and the median over the rounds (what the tables show).
round_value() { sed -n "s/^RESULT $2 .*images_per_s=\([0-9.]*\).*/\1/p" "$OUT/$1.r$3.txt" 2>/dev/null | head -n1; }
value() {
  for round in $(seq "$ROUNDS"); do round_value "$1" "$2" "$round"; done \
    | python3 -c 'import statistics, sys; v = [float(l) for l in sys.stdin if l.strip()]; print(f"{statistics.median(v):.2f}" if v else "")'
}
# Each round's value of a Python format field over a (output $2's figure for $3) and b
# (output $4's for $5), as `0.95 / 1.02`, then the suffix $6.
per_round() {
  local out="" a b
  for round in $(seq "$ROUNDS"); do
    a=$(round_value "$2" "$3" "$round"); b=$(round_value "$4" "$5" "$round")
    [ -n "$a" ] && [ -n "$b" ] || { echo "–"; return; }
    out="$out${out:+ / }$(python3 -c "a, b = $a, $b; print(f'{$1}')")"
  done
  echo "$out$6"
}
# Each round's ratio bloodshot / PyTorch, as `0.95 / 1.02×`.
rounds() { per_round 'a / b:.2f' "$1" "$2" "$3" "$4" "×"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print(f'{$1/$2:.2f}×')" || echo "–"; }

echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') · $(nproc) cores · $(date -u +%Y-%m-%d)"
[ "$HAVE_TORCH" = 1 ] && echo "PyTorch: $("$PY" -c 'import torch; print(torch.__version__, "with", torch.get_num_threads(), "threads")')"
echo
[ "$ROUNDS" -gt 1 ] && echo "Medians of $ROUNDS rounds, bloodshot and PyTorch alternating." && echo
echo "| work | bloodshot (flex) | PyTorch CPU | ratio | each round |"
echo "|---|---|---|---|---|"
for size in $SIZES; do
  batch=$(sed -n 's/^RESULT embed_folded batch=\([0-9]*\).*/\1/p' "$OUT/rust-$size.r1.txt" | head -n1)
  r=$(value "rust-$size" embed_folded); t=$(value "torch-$size" torch_embed)
  echo "| embed $size px, batch $batch | ${r:-–} img/s | ${t:-–} img/s | $(ratio "$r" "$t") | $(rounds "rust-$size" embed_folded "torch-$size" torch_embed) |"
  for o in ${OBJECTIVES//,/ }; do
    r=$(value "rust-$size" "train_$o"); t=$(value "torch-$size" "torch_train_$o")
    echo "| train $o $size px, batch 32 | ${r:-–} img/s | ${t:-–} img/s | $(ratio "$r" "$t") | $(rounds "rust-$size" "train_$o" "torch-$size" "torch_train_$o") |"
  done
done
if [ "${BUSY:-0}" != 0 ]; then
  loss() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print(f'{100 * (1 - $2 / $1):.0f} %')" || echo "–"; }
  worse() { [ -n "$1" ] && [ -n "$2" ] && [ -n "$3" ] && [ -n "$4" ] && python3 -c "
a, b = 1 - $2 / $1, 1 - $4 / $3
print('bloodshot lost nothing' if a <= 0 else f'{a / b:.1f}×' if b > 0.005 else 'PyTorch lost nothing')" || echo "–"; }
  echo
  if [ -n "$PAIRED_PID" ]; then
    echo "With one \`nice -n 19\` busy process, steps alternating within each process (images/s quiet → busy):"
  else
    echo "With one \`nice -n 19\` busy process (images/s quiet → busy):"
  fi
  echo
  # Each round's loss (quiet output $1, busy output $2, figure $3), as `5 / -2 / 11 %`.
  round_losses() { per_round '100 * (1 - b / a):.0f' "$1" "$3" "$2" "$3" " %"; }
  echo "| work | bloodshot | loss | each round | PyTorch | loss | each round | bloodshot's loss / PyTorch's |"
  echo "|---|---|---|---|---|---|---|---|"
  for size in $SIZES; do
    for w in embed_folded:torch_embed $(for o in ${OBJECTIVES//,/ }; do echo "train_$o:torch_train_$o"; done); do
      r=${w%%:*}; t=${w##*:}
      rq=$(value "rust-$size" "$r"); rb=$(value "rust-$size-busy" "$r")
      tq=$(value "torch-$size" "$t"); tb=$(value "torch-$size-busy" "$t")
      echo "| ${r/_folded/} $size px | ${rq:-–} → ${rb:-–} | $(loss "$rq" "$rb") | $(round_losses "rust-$size" "rust-$size-busy" "$r") | ${tq:-–} → ${tb:-–} | $(loss "$tq" "$tb") | $(round_losses "torch-$size" "torch-$size-busy" "$t") | $(worse "$rq" "$rb" "$tq" "$tb") |"
    done
  done
fi
echo
echo "(raw output in $OUT)"
