"""The in-run peer of `zoo train lenet5`: a plain LeNet-5 loop, the way one writes it by hand.

Adam 1e-3, batch 128, the MNIST training set held in memory as one normalised float tensor and
sliced with a fresh permutation each epoch (no DataLoader), test accuracy after every epoch.
No zoo code is used; the data come from the zoo's cache in torchvision's layout
($ZOO_HOME/data, filled by `zoo data fetch mnist`).

Prints one JSON line per epoch: {"epoch", "test_accuracy", "epoch_seconds", "time"} (time =
Unix time, so the caller can measure from process start).

    python benchmarks/plain_lenet_loop.py --seed 0 --epochs 15 --stop-at 0.99
    python benchmarks/plain_lenet_loop.py --device cuda    # data and model on the GPU, as one would by hand
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.datasets import MNIST


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max-pooling: 61,706 parameters (28x28 input, C1 padded by 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # N x 6 x 14 x 14
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),            # N x 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load(train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    ds = MNIST(str(root), train=train, download=False)
    x = (ds.data.unsqueeze(1).float() / 255 - 0.1307) / 0.3081  # N x 1 x 28 x 28
    return x, ds.targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--stop-at", type=float, default=None, help="stop once test accuracy reaches this")
    ap.add_argument("--root", type=Path, default=Path(os.environ.get("ZOO_HOME", "~/.cache/zoo")).expanduser() / "data")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where the tensors and the model live")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images only (quick checks)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    train_x, train_y = (t[:args.limit].to(args.device) for t in load(True, args.root))
    test_x, test_y = (t.to(args.device) for t in load(False, args.root))
    model = LeNet5().to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(len(train_x), device=args.device)
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(test_x[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum().item()
                          for i in range(0, len(test_x), 1000))
        acc = correct / len(test_x)
        print(json.dumps({"epoch": epoch, "test_accuracy": acc, "epoch_seconds": round(time.perf_counter() - start, 3),
                          "time": time.time()}), flush=True)
        if args.stop_at is not None and acc >= args.stop_at:
            break


if __name__ == "__main__":
    main()
