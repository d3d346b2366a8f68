#!/usr/bin/env python3
"""What a CPU training step runs on one worker while the other worker sleeps.

    scripts/serial-profile.py [--size 64] [--objective softmax] [--steps 10] [--top 25]

Runs the throughput bench (`cargo bench --bench throughput`, CPU, one objective) under
`perf record` with the scheduler's context switches, then, for each of the two busiest threads
(the pool's workers), counts its samples by what the other worker was doing at that moment
(running, runnable or asleep) and lists the functions it ran while the other slept: the
serial stretches of a step. A worker that waits longer than about 0.3 ms goes to sleep and
leaves its core to any other process (`src/model/cpu/workers.rs`), so these stretches are
what a busy machine takes from a step (`docs/cpu-profile.md`).

Only the last 60 % of the run is counted (the training steps; model set-up and the embedding
bench come first). A worker counts as running from its first sample after a switch, so a
wake-up shows up to one sample period (0.25 ms) late. Needs Linux `perf` with access to the
sched tracepoints (root, or `kernel.perf_event_paranoid` ≤ -1).
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

HEAD = re.compile(r"\s*(\d+)\s+([\d.]+):\s+(\S+):")
SWITCH = re.compile(r"prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)")


def bench_binary():
    out = subprocess.run(
        ["cargo", "bench", "--bench", "throughput", "--no-run"],
        capture_output=True, text=True, check=False,
    )
    found = re.findall(r"Executable .*\((.*throughput-[0-9a-f]+)\)", out.stderr)
    if out.returncode != 0 or not found:
        sys.exit(f"serial-profile: building the throughput bench failed:\n{out.stderr[-2000:]}")
    return found[-1]


def events(script_output):
    """(tid, time, event, frames, switch) per perf sample, in time order."""
    for block in script_output.split("\n\n"):
        lines = block.strip("\n").split("\n")
        m = HEAD.match(lines[0]) if lines and lines[0] else None
        if not m:
            continue
        frames = [f.split(None, 1)[1] for f in lines[1:] if len(f.split(None, 1)) > 1]
        yield int(m.group(1)), float(m.group(2)), m.group(3), frames, SWITCH.search(lines[0])


def label(frames):
    """The sampled function, and the first of this crate's functions above it."""
    ours = next((f for f in frames[1:] if f.startswith("bloodshot::")), None)
    top = frames[0][:70] if frames else "?"
    return f"{top}  <  {ours[:70]}" if ours else top


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--objective", default="softmax")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("serial-profile: `perf` is not installed (Debian/Ubuntu: linux-perf or linux-tools).")
    binary = bench_binary()
    env = dict(os.environ, BENCH_DEVICE="cpu", BENCH_SIZE=str(a.size),
               BENCH_STEPS=str(a.steps), BENCH_OBJECTIVES=a.objective)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.run(
            ["perf", "record", "-F", "4000", "-g", "-e", "cpu-clock", "-e", "sched:sched_switch",
             "-o", data, "--", binary], env=env, capture_output=True, text=True, check=False)
        if rec.returncode != 0:
            sys.exit(f"serial-profile: perf record failed:\n{rec.stderr[-2000:]}")
        print("".join(l + "\n" for l in rec.stdout.splitlines() if l.startswith("RESULT")), end="")
        script = subprocess.run(
            ["perf", "script", "-i", data, "-F", "tid,time,event,ip,sym,trace"],
            capture_output=True, text=True, check=False).stdout
    evs = list(events(script))
    samples = [(tid, t) for tid, t, ev, _, _ in evs if ev == "cpu-clock"]
    if not samples:
        sys.exit("serial-profile: perf recorded no samples (is perf allowed to sample this process?)")
    busiest = [t for t, _ in collections.Counter(tid for tid, _ in samples).most_common(2)]
    if len(busiest) < 2:
        sys.exit("serial-profile: only one thread ran; this needs at least two workers (two cores).")
    start = samples[0][1] + 0.4 * (samples[-1][1] - samples[0][1])
    for me, other in (busiest, busiest[::-1]):
        state, by_state, alone = {}, collections.Counter(), collections.Counter()
        for tid, t, ev, frames, sw in evs:
            if ev == "sched:sched_switch" and sw:
                prev, prev_state, nxt = int(sw.group(1)), sw.group(2), int(sw.group(3))
                state[prev] = "asleep" if prev_state[0] in "SD" else "runnable"
                state[nxt] = "running"
                continue
            state[tid] = "running"
            if tid != me or t < start:
                continue
            s = state.get(other, "running")
            by_state[s] += 1
            if s == "asleep":
                alone[label(frames)] += 1
        total = sum(by_state.values()) or 1
        print(f"\nthread {me}: {total} samples; the other worker "
              + ", ".join(f"{k} {100 * v / total:.1f} %" for k, v in by_state.most_common()))
        for name, n in alone.most_common(a.top):
            print(f"  {100 * n / total:5.2f} %  {name}")


if __name__ == "__main__":
    main()
