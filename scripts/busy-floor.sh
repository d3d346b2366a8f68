#!/usr/bin/env bash
# The least a process that keeps every core busy loses beside one `nice -n 19` spinner: the
# floor for `BUSY=… scripts/cpu-bench.sh`'s loss. One thread per core counts loop iterations
# (never sleeping) for SECS seconds quiet, then beside the spinner, then quiet
# again; each round prints the busy loss against the mean of its two quiet measurements,
# and the last line the median and the mean ± its standard error. Needs a C compiler (`cc`) and pthreads.
#
#   ROUNDS=10 SECS=3 scripts/busy-floor.sh
set -euo pipefail
ROUNDS=${ROUNDS:-10}
SECS=${SECS:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS=$ROUNDS: expected a whole number of rounds, 1 or more" >&2; exit 2; }
[[ "$SECS" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && python3 -c "import sys; sys.exit(float('$SECS') < 0.1)" \
  || { echo "SECS=$SECS: expected the seconds per measurement, a number of at least 0.1" >&2; exit 2; }
DIR=$(mktemp -d)
SPIN=""
cleanup() { [ -z "$SPIN" ] || kill "$SPIN" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cat > "$DIR/floor.c" <<'C'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static volatile int stop;
static void *work(void *p) {
  unsigned long n = 0;
  while (!stop) { for (int i = 0; i < 1000; i++) __asm__ volatile(""); n++; }
  *(unsigned long *)p = n;
  return 0;
}
int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 3;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  pthread_t *t = calloc(cores, sizeof *t);
  unsigned long *n = calloc(cores, sizeof *n), sum = 0;
  for (long i = 0; i < cores; i++) pthread_create(&t[i], 0, work, &n[i]);
  struct timespec d = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
  nanosleep(&d, 0);
  stop = 1;
  for (long i = 0; i < cores; i++) { pthread_join(t[i], 0); sum += n[i]; }
  printf("%.0f\n", sum / secs);
  return 0;
}
C
cc -O2 -pthread -o "$DIR/floor" "$DIR/floor.c"
echo "$(nproc) threads spinning, ${SECS} s per measurement, ${ROUNDS} rounds (quiet, busy, quiet)"
# Not in a pipeline: the loop runs in this shell, so the EXIT trap sees the spinner's pid.
for r in $(seq "$ROUNDS"); do
  q1=$("$DIR/floor" "$SECS")
  nice -n 19 sh -c 'while :; do :; done' & SPIN=$!
  b=$("$DIR/floor" "$SECS")
  kill "$SPIN"; wait "$SPIN" 2>/dev/null || true; SPIN=""
  q2=$("$DIR/floor" "$SECS")
  loss=$(python3 -c "print(f'{100 * (1 - 2 * $b / ($q1 + $q2)):.1f}')")
  echo "$loss" >> "$DIR/losses.txt"
  echo "round $r: loss $loss %"
done
python3 -c "
import statistics
v = [float(l) for l in open('$DIR/losses.txt')]
se = statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else float('nan')
print(f'loss beside the spinner: median {statistics.median(v):.1f} %, mean {statistics.mean(v):.1f} ± {se:.1f} % (rounds {min(v):.1f} to {max(v):.1f} %)')"
