"""PyTorch side of benches/depthwise.rs: the same depthwise 3x3 and dense 1x1 convolutions
(96 channels, 112x112, batch 32), forward and forward+backward, on the CPU."""
import time

import torch

b, c, hw = 32, 96, 112
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input [{b}, {c}, {hw}, {hw}]")
for name, groups, k in [("depthwise 3x3", c, 3), ("dense 1x1", 1, 1)]:
    conv = torch.nn.Conv2d(c, c, k, padding=(k - 1) // 2, groups=groups, bias=False)
    x = torch.randn(b, c, hw, hw)
    with torch.no_grad():
        conv(x)
        t = time.perf_counter()
        for _ in range(5):
            conv(x)
        print(f"{name} forward: {(time.perf_counter() - t) * 1e3 / 5:.1f} ms")
    xa = x.clone().requires_grad_()
    conv(xa).sum().backward()
    t = time.perf_counter()
    for _ in range(3):
        conv(xa).sum().backward()
    print(f"{name} forward+backward: {(time.perf_counter() - t) * 1e3 / 3:.1f} ms")
