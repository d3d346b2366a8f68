"""PyTorch/torchvision reference for scripts/cpu-bench.sh and scripts/gpu-check.sh:
EfficientNet-B0 training steps at batch 32 for each objective (softmax, ArcFace, ArcFace +
rotation consistency, as bloodshot computes them) and embedding throughput (eval, no grad).
Prints RESULT lines like the Rust bench (benches/throughput.rs).

usage: torch_bench.py [STEPS] [SIZE] [OBJECTIVES] [EMBED_BATCH] [BUSY_PID]
  STEPS        training steps per objective (first one reported apart), default 20
  SIZE         image side in pixels, default 224
  OBJECTIVES   comma list of softmax,aam,aam-consistency, default aam-consistency
  EMBED_BATCH  images per embedding batch, default 64
  BUSY_PID     a stopped busy process: the timed steps and batches alternate quiet and
               beside it (quiet, busy, busy, quiet, ...), as the Rust bench does with
               BENCH_BUSY_PID, and RESULT lines add busy_per_s=
"""
import math
import os
import signal
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
size = int(sys.argv[2]) if len(sys.argv) > 2 else 224
objectives = (sys.argv[3] if len(sys.argv) > 3 else "aam-consistency").split(",")
embed_batch = int(sys.argv[4]) if len(sys.argv) > 4 else 64
busy_pid = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def busy_at(i):
    """Whether the i-th timed step or batch (from 0) runs beside the busy process."""
    return busy_pid is not None and i % 4 in (1, 2)


def set_busy(on):
    if busy_pid is not None:
        os.kill(busy_pid, signal.SIGCONT if on else signal.SIGSTOP)


def medians(times, flags):
    """Median of the quiet times, and of the busy ones (None without)."""
    quiet = [t for t, b in zip(times, flags) if not b]
    busy = [t for t, b in zip(times, flags) if b]
    # The upper median of an even count, as the Rust bench (src/bench.rs) takes it, with or
    # without a busy process.
    pick = lambda v: sorted(v)[len(v) // 2] if v else None
    return pick(quiet), pick(busy)


def busy_field(batch, med):
    return f" busy_per_s={batch / med:.2f}" if med else ""


def rotate(x):
    theta = torch.rand(x.shape[0], device=dev) * 2 * math.pi
    c, s = torch.cos(theta), torch.sin(theta)
    z = torch.zeros_like(c)
    mat = torch.stack([torch.stack([c, -s, z], 1), torch.stack([s, c, z], 1)], 1)
    grid = F.affine_grid(mat, x.shape, align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


for objective in objectives:
    torch.manual_seed(0)
    net = torchvision.models.efficientnet_b0().features.to(dev)
    head = torch.nn.Parameter(torch.randn(11, 1280, device=dev) * 0.02)
    opt = torch.optim.Adam(list(net.parameters()) + [head], lr=1e-3)

    def embed(x):
        return F.adaptive_avg_pool2d(net(x), 1).flatten(1)

    x = torch.rand(32, 3, size, size, device=dev)
    y = torch.arange(32, device=dev) % 11
    times, flags = [], []
    for i in range(steps):
        on = i > 0 and busy_at(i - 1)
        set_busy(on)
        flags.append(on)
        t = time.perf_counter()
        if objective == "aam-consistency":
            e = embed(torch.cat([x, rotate(x)]))
            e0, e1 = e[:32], e[32:]
        else:
            e0 = embed(x)
        if objective == "softmax":
            logits = e0 @ head.t()
        else:
            cos = F.normalize(e0) @ F.normalize(head).t()
            m, sc = 0.5, 64.0
            target = F.one_hot(y, 11).float()
            sin = (1 - cos.clamp(-1 + 1e-7, 1 - 1e-7) ** 2).sqrt()
            phi = cos * math.cos(m) - sin * math.sin(m)
            phi = torch.where(cos > math.cos(math.pi - m), phi, cos - m * math.sin(m))
            logits = sc * (target * phi + (1 - target) * cos)
        loss = F.cross_entropy(logits, y)
        if objective == "aam-consistency":
            loss = loss + F.mse_loss(e0, e1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        sync()
        times.append(time.perf_counter() - t)
    set_busy(False)
    med, busy_med = medians(times[1:], flags[1:])
    print(f"torch train {objective} {size} px batch 32 on {dev}: first step {times[0]:.2f} s, median {med:.4f} s = {32 / med:.1f} images/s")
    print(f"RESULT torch_train_{objective} first_s={times[0]:.3f} median_s={med:.4f} images_per_s={32 / med:.2f}{busy_field(32, busy_med)}")

torch.manual_seed(0)
net = torchvision.models.efficientnet_b0().features.to(dev).eval()
xb = torch.rand(embed_batch, 3, size, size, device=dev)
with torch.no_grad():
    t = time.perf_counter()
    F.adaptive_avg_pool2d(net(xb), 1)
    sync()
    first = time.perf_counter() - t
    # As benches/throughput.rs: the median of 20 batches at small sizes, 5 at larger ones.
    reps = 20 if size <= 96 else 5
    batch_times, batch_flags = [], []
    for i in range(reps):
        set_busy(busy_at(i))
        batch_flags.append(busy_at(i))
        t = time.perf_counter()
        F.adaptive_avg_pool2d(net(xb), 1)
        sync()
        batch_times.append(time.perf_counter() - t)
    set_busy(False)
    per, busy_per = medians(batch_times, batch_flags)
print(f"torch embed {size} px batch {embed_batch}: first {first:.2f} s, then {embed_batch / per:.1f} images/s")
print(f"RESULT torch_embed first_s={first:.3f} images_per_s={embed_batch / per:.2f}{busy_field(embed_batch, busy_per)}")
