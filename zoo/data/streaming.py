"""The streaming path: a split read one example at a time by a torch DataLoader's workers.

A split streams when `data.stream` is true, or, left unset, when it would take more than
`data.memory_budget` decoded or `data.augment` is `imagenet` (zoo.data.budget). Otherwise it
is held in memory (`zoo.data.load_dataset`), which stays the path for MNIST-sized data.

`open_stream(config, split, image_size, model_side)` gives a `StreamedSplit`: the labels in
memory (int64, small), a picklable reader of the images (`ImageSet.stream_items`: an image
folder decodes one file per request, by the function the in-memory path uses; other datasets
serve their tensors), the classes and the training split's statistics (declared, or for a
folder measured on an evenly spread sample of at most `STATS_SAMPLE` decoded training images).

`StreamedSplit.dataset(train=...)` is the torch Dataset the DataLoader reads. Its keys are
`(index, seed)` pairs: the engine's sampler (zoo.engine.loader) yields the in-memory path's
order, and each example's random transform (augment=imagenet: timm's `create_transform`
training pipeline) is seeded by its position in the epoch, not by a worker's RNG, so the
examples do not depend on the number of workers and a resumed run reads the same ones. The
evaluation transform is timm's too (resize by 1/crop_pct, centre crop); without imagenet
augmentation every example is the decoded image, and a run reads bit for bit what the
in-memory path slices.

A file that fails in a worker is re-raised by torch as the same error class with the worker's
traceback in its message; `WorkerDataError` keeps only the original line, so the CLI still
prints one line.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from zoo.data.base import DataError, ImageSet, TensorItems
from zoo.data.config import DataConfig

STATS_SAMPLE = 2000  # decoded training images a streamed folder's mean and std are measured on
_STATS: dict[tuple[str, str, int], dict[int, tuple[tuple[float, ...], tuple[float, ...]]]] = {}


class WorkerDataError(DataError):
    """A DataError raised in a DataLoader worker: torch rebuilds it from a message carrying the worker's
    traceback; this keeps the original one line."""

    def __init__(self, message: str = "") -> None:
        if message.startswith("Caught ") and "Original Traceback" in message:
            last = message.rstrip().splitlines()[-1]
            message = last.split(": ", 1)[1] if ": " in last else last
        super().__init__(message)


# ---------------------------------------------------------------------------------- readers


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's, numpy's and torch's CPU RNG seeded with `seed` inside, restored after (a worker's, or with
    0 workers the training process's own, RNG state is left as it was)."""
    import numpy as np

    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


class ItemDataset(torch.utils.data.Dataset):
    """What the DataLoader reads: key `i` or `(i, seed)` -> {"images": C x S x S uint8, "labels": int64}."""

    def __init__(self, items: Any, labels: torch.Tensor, index: torch.Tensor | None, transform: Any) -> None:
        self.items, self.labels, self.index, self.transform = items, labels, index, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        i, seed = key if isinstance(key, tuple) else (key, 0)
        item = int(self.index[i]) if self.index is not None else i
        try:
            if self.transform is None:
                image = self.items.load(item)
            else:
                with seeded(seed):
                    image = self.transform(self.items.open(item))
        except WorkerDataError:
            raise
        except DataError as err:
            raise WorkerDataError(str(err)) from None
        return {"images": image, "labels": self.labels[i]}


def imagenet_transform(config: DataConfig, image_size: int, train: bool, mean: tuple[float, ...]) -> Any:
    """timm's `create_transform` pipeline at `image_size`, ending in a uint8 tensor (the task normalises).
    `mean` (per channel of the images) is only the fill of auto-augment's shears and translations: one
    value for grey images, whose fill must be one."""
    from timm.data import create_transform

    from zoo.errors import ConfigError

    try:
        return create_transform(image_size, is_training=train, normalize=False, auto_augment=config.auto_augment,
                                interpolation="bilinear", mean=mean)
    except (ValueError, AssertionError, KeyError) as err:
        raise ConfigError(f"data.auto_augment={config.auto_augment}: timm refuses it ({err})") from None


# ---------------------------------------------------------------------------------- splits


@dataclass
class StreamedSplit:
    """One split read example by example: labels in memory, images from `items` when the DataLoader asks."""

    name: str
    split: str
    items: Any
    labels: torch.Tensor  # int64, one per example of this split (after any hold-out or subset)
    classes: list[str]
    mean: tuple[float, ...]  # per data channel, [0, 1] scale, of the training split
    std: tuple[float, ...]
    root: Path
    in_chans: int  # channels of the decoded images
    image_size: int  # side of every decoded example
    config: DataConfig
    luma: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # the training split's luma statistics
    index: torch.Tensor | None = None  # positions in `items` of this split's examples
    _loaders: dict[tuple[int, int], Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def subset(self, keep: torch.Tensor) -> StreamedSplit:
        """The examples at positions `keep` (a hold-out, the first N, a labelled subset)."""
        base = self.index if self.index is not None else torch.arange(len(self.items))
        return replace(self, labels=self.labels[keep], index=base[keep], _loaders={})

    def dataset(self, train: bool) -> ItemDataset:
        """The torch Dataset of this split: with augment=imagenet, timm's training (`train`) or evaluation
        transform per image; otherwise the decoded images as they are."""
        transform = None
        if self.config.augment == "imagenet":
            transform = imagenet_transform(self.config, self.image_size, train, tuple(self.mean))
        return ItemDataset(self.items, self.labels, self.index, transform)

    def read(self, positions: torch.Tensor) -> torch.Tensor:
        """The evaluation-transformed images at `positions`, in the training process (a few, for a grid)."""
        ds = self.dataset(train=False)
        return torch.stack([ds[int(i)]["images"] for i in positions])

    def batches(self, batch_size: int, workers: int | None = None, pin_memory: bool = False) -> Iterator[dict]:
        """The split in order, `batch_size` examples at a time, through a DataLoader whose workers persist
        across calls (one evaluation per epoch)."""
        n = loader_workers(self.config) if workers is None else workers
        key = (batch_size, n)
        if key not in self._loaders:
            self._loaders[key] = make_loader(self.dataset(train=False), batch_size, n, pin_memory)
        return iter(self._loaders[key])

    def close(self) -> None:
        """End the worker processes of the evaluation loaders."""
        self._loaders.clear()


def make_loader(dataset: torch.utils.data.Dataset, batch_size: int, workers: int, pin_memory: bool,
                sampler: Any = None) -> torch.utils.data.DataLoader:
    """The DataLoader every streamed read goes through: `workers` processes that persist across epochs,
    pinned memory for a GPU, full batches only when a sampler sets the order. It has its own generator:
    a DataLoader draws its workers' base seed at every pass, from torch's global RNG without one, which
    would shift the dropout and mixup draws of a streamed run against an in-memory or a resumed one."""
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=workers,
        pin_memory=pin_memory, persistent_workers=workers > 0, drop_last=sampler is not None,
        prefetch_factor=4 if workers > 0 else None, generator=torch.Generator().manual_seed(0))


def loader_workers(config: DataConfig) -> int:
    """`data.workers`, else the process's cores less one (the training loop's), at most 8."""
    if config.workers is not None:
        return config.workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, cores // local - 1))


def open_stream(config: DataConfig, split: str, image_size: int, model_side: int) -> StreamedSplit:
    """Split 'train', 'val' or 'test' of the configured dataset for the streaming path (see the module doc).

    `image_size` is the side examples are decoded to (data.image_size, else the model's input side);
    `model_side` the model's input side, against which a folder refuses images under half of it."""
    from zoo.data.catalog import dataset_for
    from zoo.data.fetch import ensure_split
    from zoo.data.loading import SPLITS, hold_out_positions

    dataset = dataset_for(config.name, config)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; allowed: {', '.join(SPLITS)}")
    if split == "val" and config.val_size == 0:
        raise DataError("split 'val' needs val_size > 0 (it is held out from the training split)")
    source = "test" if split == "test" else "train"
    root = dataset.root_for(config)
    ensure_split(dataset, root, source, config.download)
    items, labels, classes = dataset.stream_items(root, source, image_size, model_side)
    in_chans = _channels(items)
    stats = _training_stats(dataset, config, root, image_size, model_side, items if source == "train" else None)
    name = dataset.name if not dataset.claims_paths else str(root)
    whole = StreamedSplit(name, source, items, labels, classes, *stats[in_chans], root, in_chans, image_size, config,
                          luma=stats.get(-1))
    if source == "test":
        return whole
    keep = hold_out_positions(labels, split, config.val_size, name)
    if keep is None:
        return whole
    part = whole.subset(keep)
    part.split = split
    return part


def _channels(items: Any) -> int:
    return items.images.shape[1] if isinstance(items, TensorItems) else (1 if items.mode == "L" else 3)


def _training_stats(dataset: ImageSet, config: DataConfig, root: Path, image_size: int, model_side: int,
                    train_items: Any) -> dict[int, tuple[tuple[float, ...], tuple[float, ...]]]:
    """{channels: (mean, std)} of the training split, -1 for its luma: declared, or measured on a sample."""
    from zoo.data.folder import channel_stats, luma_stats

    key = (str(root.resolve()), dataset.name, image_size)
    if key in _STATS:
        return _STATS[key]
    items = train_items if train_items is not None else dataset.stream_items(root, "train", image_size, model_side)[0]
    n = len(items)
    positions = [i * n // min(n, STATS_SAMPLE) for i in range(min(n, STATS_SAMPLE))]
    if dataset.mean and not dataset.claims_paths:
        stats = {dataset.in_chans: (tuple(dataset.mean), tuple(dataset.std))}
        if dataset.in_chans == 3:  # over the whole split when it is in memory, as the in-memory path measures it
            images = items.images if isinstance(items, TensorItems) else _decode_sample(items, positions, config)
            stats[-1] = luma_stats(images)
    else:
        sample = _decode_sample(items, positions, config)
        stats = {sample.shape[1]: channel_stats(sample)}
        if sample.shape[1] == 3:
            stats[-1] = luma_stats(sample)
    _STATS[key] = stats
    return stats


def _decode_sample(items: Any, positions: list[int], config: DataConfig) -> torch.Tensor:
    """The sampled images, decoded by the DataLoader's workers."""
    labels = torch.zeros(len(positions), dtype=torch.int64)
    ds = ItemDataset(items, labels, torch.tensor(positions), None)
    workers = loader_workers(config)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=workers, generator=torch.Generator())
    return torch.cat([b["images"] for b in loader])
