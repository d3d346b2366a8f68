"""PyTorch/torchvision reference for scripts/gpu-check.sh: EfficientNet-B0 at 224 px (argv[2]: size),
20 training steps (ArcFace-style normalised head + rotation consistency) at batch 32 and
embedding throughput at batch 64. Prints RESULT lines like the Rust bench."""
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
size = int(sys.argv[2]) if len(sys.argv) > 2 else 224
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
net = torchvision.models.efficientnet_b0().features.to(dev)
head = torch.nn.Parameter(torch.randn(11, 1280, device=dev) * 0.02)
opt = torch.optim.Adam(list(net.parameters()) + [head], lr=1e-3)


def embed(x):
    return F.adaptive_avg_pool2d(net(x), 1).flatten(1)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


x = torch.rand(32, 3, size, size, device=dev)
y = torch.arange(32, device=dev) % 11
times = []
for _ in range(steps):
    t = time.perf_counter()
    theta = torch.rand(32, device=dev) * 2 * math.pi
    c, s = torch.cos(theta), torch.sin(theta)
    mat = torch.stack([torch.stack([c, -s, torch.zeros_like(c)], 1), torch.stack([s, c, torch.zeros_like(c)], 1)], 1)
    grid = F.affine_grid(mat, x.shape, align_corners=True)
    xr = F.grid_sample(x, grid, align_corners=True)
    e = embed(torch.cat([x, xr]))
    e0, e1 = e[:32], e[32:]
    cos = F.normalize(e0) @ F.normalize(head).t()
    m, sc = 0.5, 64.0
    target = F.one_hot(y, 11).float()
    sin = (1 - cos.clamp(-1 + 1e-7, 1 - 1e-7) ** 2).sqrt()
    phi = cos * math.cos(m) - sin * math.sin(m)
    phi = torch.where(cos > math.cos(math.pi - m), phi, cos - m * math.sin(m))
    logits = sc * (target * phi + (1 - target) * cos)
    loss = F.cross_entropy(logits, y) + F.mse_loss(e0, e1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss.item()
    sync()
    times.append(time.perf_counter() - t)
med = statistics.median(times[1:])
print(f"torch train aam-consistency {size} px batch 32 on {dev}: first step {times[0]:.2f} s, median {med:.4f} s = {32 / med:.1f} images/s")
print(f"RESULT torch_train_aam-consistency first_s={times[0]:.3f} median_s={med:.4f} images_per_s={32 / med:.2f}")

net.eval()
xb = torch.rand(64, 3, size, size, device=dev)
with torch.no_grad():
    t = time.perf_counter()
    embed(xb)
    sync()
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(5):
        embed(xb)
    sync()
    per = (time.perf_counter() - t) / 5
print(f"torch embed {size} px batch 64: first {first:.2f} s, then {64 / per:.1f} images/s")
print(f"RESULT torch_embed first_s={first:.3f} images_per_s={64 / per:.2f}")
