"""The streaming path's training order: the in-memory path's batches, read by a DataLoader.

`EpochSampler` is a `DistributedSampler` (one per process, `set_epoch` each epoch) whose order
is not its own: it yields, batch by batch from the batch a run resumes at, the indices the
in-memory path would slice (`epoch_order(n, seed, epoch)`, each global batch split across the
processes as `distributed.shard` splits it), each paired with a seed for that example's random
transform, a function of (seed, epoch, position in the epoch). So a streamed run sees the same
examples in the same order as an in-memory one, and a resumed run the same as an uninterrupted
one, whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data.distributed import DistributedSampler

from zoo.engine import distributed


def example_seed(seed: int, epoch: int, position: int) -> int:
    """The seed of the random transform of the example at `position` of epoch `epoch`'s order."""
    return ((seed * 999_983 + epoch) * 10_000_019 + position) % (1 << 63)


class EpochSampler(DistributedSampler):
    """Yields `(index, transform seed)` for this process's part of batches `start`.. of the epoch."""

    def __init__(self, n: int, batch_size: int, seed: int, dist: distributed.Dist) -> None:
        super().__init__(range(n), num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=seed, drop_last=True)
        self.n, self.batch_size, self.dist = n, batch_size, dist
        self.steps = n // batch_size
        self.start = 0

    def set_start(self, batch: int) -> None:
        """Begin the epoch at batch `batch` (a run resumed mid-epoch)."""
        self.start = batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        from zoo.engine.trainer import epoch_order

        order = epoch_order(self.n, self.seed, self.epoch)
        b = self.batch_size
        for step in range(self.start, self.steps):
            positions = distributed.shard(torch.arange(step * b, (step + 1) * b), self.dist)
            for position in positions.tolist():
                yield int(order[position]), example_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        return (self.steps - self.start) * (self.batch_size // self.dist.world)
