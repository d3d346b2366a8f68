"""PyTorch/torchvision side of scripts/memory.sh: one phase of the work per process, so that
`/usr/bin/time -f %M` gives that phase's peak resident memory (plus the interpreter's and
torch's own, measured by the `baseline` phase).

usage: torch_memory.py PHASE SIZE [IMAGES]
  PHASE   baseline | train (IMAGES/32 softmax steps at batch 32) | recalibration (20
          training-mode forward passes at batch 32 under no_grad) | validation (eval
          forward over IMAGES at batch 32) | embedding (eval forward over IMAGES at batch 16)
  SIZE    image side in pixels
  IMAGES  images in the phase, default 160
"""
import sys

import torch
import torch.nn.functional as F
import torchvision

phase, size = sys.argv[1], int(sys.argv[2])
images = int(sys.argv[3]) if len(sys.argv) > 3 else 160
torch.manual_seed(0)
net = torchvision.models.efficientnet_b0().features
head = torch.nn.Linear(1280, 8)


def embed(x):
    return F.adaptive_avg_pool2d(net(x), 1).flatten(1)


def batches(batch):
    for start in range(0, images, batch):
        yield torch.rand(min(batch, images - start), 3, size, size)


if phase == "baseline":
    pass
elif phase == "train":
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=1e-3)
    net.train()
    for x in batches(32):
        y = torch.arange(x.shape[0]) % 8
        loss = F.cross_entropy(head(embed(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
elif phase == "recalibration":
    net.train()
    with torch.no_grad():
        for _ in range(20):
            embed(torch.rand(32, 3, size, size))
elif phase == "validation":
    net.eval()
    with torch.no_grad():
        for x in batches(32):
            head(embed(x)).argmax(1)
elif phase == "embedding":
    net.eval()
    with torch.no_grad():
        for x in batches(16):
            embed(x)
else:
    sys.exit(f"unknown phase {phase}")
