"""The validation hold-out: which training examples become the 'val' split.

`data.val_size` says how many. A run's default is "auto": 10% of the training split, at most
5,000 examples (`zoo.engine.config.compose` sets it when the user leaves the field unset); a
number holds out that many; 0 holds out nothing (a run then chooses on the test split).

Which ones: a class-stratified draw with a fixed seed (`SEED`), so every run on a dataset holds
out the same examples whatever its training seed, and every class keeps its share of the
split (largest remainders). No class loses its last training example. 'train' keeps the rest
in the files' order (so `train.max_train_examples` still takes the first N of them); 'val'
comes in the draw's random order, so its first N examples are a random sample of it, not
the first classes of a class-sorted folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from zoo.data.base import DataError

if TYPE_CHECKING:
    import torch

    from zoo.data.base import Dataset

AUTO = "auto"
AUTO_FRACTION = 0.1
AUTO_MAX = 5000
SEED = 0  # the hold-out's own seed: the split is a property of the dataset, not of one run

ValSize = Annotated[int, Field(ge=0)] | Literal["auto"]  # DataConfig.val_size


def val_count(n: int, val_size: ValSize) -> int:
    """How many of `n` training examples `val_size` holds out ("auto": 10%, at least 1, at most 5,000)."""
    if val_size == AUTO:
        if n < 2:
            raise DataError(f"the training split has {n} example(s), too few to hold out a validation split; "
                            "set data.val_size=0 (the test split then chooses)")
        return min(AUTO_MAX, max(1, round(n * AUTO_FRACTION)))
    return int(val_size)


def quotas(counts: list[int], total: int) -> list[int]:
    """Examples of each class to hold out: `total` shared in proportion to `counts` (largest remainders),
    never a class's last example. The sum is below `total` only when the classes have no more to give."""
    n = sum(counts)
    exact = [total * c / n for c in counts] if n else [0.0] * len(counts)
    room = [max(c - 1, 0) for c in counts]
    quota = [min(int(e), r) for e, r in zip(exact, room)]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    left = total - sum(quota)
    while left > 0:
        given = 0
        for i in by_remainder:
            if left and quota[i] < room[i]:
                quota[i], left, given = quota[i] + 1, left - 1, given + 1
        if not given:
            break
    return quota


def holdout_indices(labels: torch.Tensor, count: int, seed: int = SEED) -> torch.Tensor:
    """Indices of the `count` held-out examples, stratified by `labels`, in the seeded draw's order."""
    import torch

    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    by_class = order[torch.sort(labels[order], stable=True).indices]  # grouped by class, drawn order within each
    classes, counts = torch.unique(labels, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    picked = torch.cat([by_class[s:s + q] for s, q in zip(starts.tolist(), quotas(counts.tolist(), count))])
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n)
    return picked[torch.argsort(rank[picked])]


def hold_out(ds: Dataset, split: str, val_size: ValSize) -> Dataset:
    """The 'train' or 'val' part of the training split `ds` (`ds` itself for 'test' or val_size 0)."""
    import torch

    if split == "test" or val_size == 0:
        return ds
    n = len(ds)
    count = val_count(n, val_size)
    if count >= n:
        raise DataError(f"val_size={val_size} leaves no training data ({ds.name} has {n} training examples)")
    val = holdout_indices(ds.labels, count)
    if len(val) < count:
        classes = len(torch.unique(ds.labels))
        raise DataError(f"val_size={val_size} would leave a class without training examples ({ds.name} has {n} "
                        f"training examples in {classes} classes; at most {len(val)} can be held out)")
    if split == "val":
        keep = val
    else:
        mask = torch.ones(n, dtype=torch.bool)
        mask[val] = False
        keep = mask.nonzero().squeeze(1)
    for name in ("images", "labels", *ds.per_example):  # per_example: a dataset's own N-long tensors (captions)
        setattr(ds, name, getattr(ds, name)[keep])
    ds.split = split
    return ds
