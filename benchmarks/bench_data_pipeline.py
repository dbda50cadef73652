"""MNIST input pipeline: one epoch of batches, zoo's in-memory path against torchvision's DataLoader.

    python benchmarks/bench_data_pipeline.py [--batch-size 128] [--workers 2] [--threads N]

All three produce the same thing, shuffled 128 x 1 x 32 x 32 float batches normalised with
MNIST's statistics (LeNet-5's input), for the 60k training images:

1. zoo: `load_dataset("mnist")` once (uint8 tensor in memory), then per batch index a random
   permutation and call `prepare_batch` (pad 28 -> 32, normalise) on the whole batch.
2. peer: torchvision.datasets.MNIST + transforms Compose([Pad(2), ToTensor(), Normalize]) through
   a DataLoader (per-image PIL work), num_workers=0 and =--workers.

Reported: seconds per epoch (median of --runs), the ratio to zoo, and for scale the time of one
LeNet-5 training epoch's compute (forward + backward + Adam on pre-made batches).
The goal from issue 4: the input pipeline must not dominate a LeNet epoch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def zoo_epoch(ds, batch_size: int, generator: torch.Generator) -> int:
    from zoo.data import prepare_batch

    order = torch.randperm(len(ds), generator=generator)
    seen = 0
    for start in range(0, len(ds), batch_size):
        idx = order[start:start + batch_size]
        x = prepare_batch(ds.images[idx], image_size=32, in_chans=1, mean=ds.mean, std=ds.std)
        y = ds.labels[idx]
        seen += min(x.shape[0], y.shape[0])
    return seen


def torchvision_epoch(loader) -> int:
    return sum(x.shape[0] for x, _ in loader)


def lenet_compute_epoch(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """LeNet-5-sized convnet (6-16 conv, 120-84-10), Adam 1e-3: the work a training epoch must do."""
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),  # N x 6 x 14 x 14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),  # N x 16 x 5 x 5
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for x, y in batches:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from torchvision import transforms
    from torchvision.datasets import MNIST

    from zoo.data import load_dataset, prepare_batch

    t = time.perf_counter()
    ds = load_dataset("mnist", "train")
    load_s = time.perf_counter() - t
    g = torch.Generator().manual_seed(0)
    zoo_s = timed(lambda: zoo_epoch(ds, args.batch_size, g), args.runs)

    batches = []
    order = torch.randperm(len(ds), generator=g)
    for start in range(0, len(ds), args.batch_size):
        idx = order[start:start + args.batch_size]
        batches.append((prepare_batch(ds.images[idx], 32, 1, ds.mean, ds.std), ds.labels[idx]))
    compute_s = timed(lambda: lenet_compute_epoch(batches), 1)

    tf = transforms.Compose([transforms.Pad(2), transforms.ToTensor(), transforms.Normalize(ds.mean, ds.std)])
    tv = MNIST(str(ds.root), train=True, transform=tf)
    peers = {}
    for workers in sorted({0, args.workers}):
        loader = torch.utils.data.DataLoader(tv, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                             persistent_workers=workers > 0)
        peers[workers] = timed(lambda: torchvision_epoch(loader), args.runs)
        del loader  # stop its worker processes before the next measurement

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"threads {torch.get_num_threads()}, batch {args.batch_size}, {len(ds)} images, median of {args.runs}; load average {load}")
    print(f"zoo load_dataset('mnist') (cached):            {load_s:6.2f} s once")
    print(f"zoo in-memory + prepare_batch:                 {zoo_s:6.2f} s/epoch")
    for workers, s in peers.items():
        print(f"torchvision DataLoader, num_workers={workers}:      {s:6.2f} s/epoch  ({s / zoo_s:5.1f}x zoo)")
    print(f"LeNet-5 compute (fwd+bwd+Adam), for scale:     {compute_s:6.2f} s/epoch  "
          f"(zoo pipeline = {100 * zoo_s / (zoo_s + compute_s):.0f}% of an epoch)")


if __name__ == "__main__":
    main()
