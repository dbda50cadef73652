"""Where datasets live on disk, and what is already there (torch-free).

The cache is `$ZOO_HOME/data` (default `~/.cache/zoo/data`). Each dataset class declares its
own folder and files under it (`ImageSet.directory`, `ImageSet.files`); the built-in ones use
torchvision's own layout, so a directory torchvision filled works as a `root` here and back:

    MNIST/raw/train-images-idx3-ubyte ...          (mnist)
    FashionMNIST/raw/train-images-idx3-ubyte ...   (fashion-mnist)
    cifar-10-batches-py/data_batch_1 ...           (cifar10)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo.data.base import ImageSet, default_root
from zoo.data.catalog import dataset_for, dataset_names
from zoo.errors import ZooError

__all__ = ["CachedDataset", "cacheable_datasets", "cached_datasets", "dataset_dir", "default_root"]


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """The directory holding a named dataset's files under `root`."""
    return dataset_for(name).path(root)


@dataclass(frozen=True)
class CachedDataset:
    name: str
    splits: list[str]
    size_bytes: int
    path: Path


def cached_datasets(root: Path | None = None) -> list[CachedDataset]:
    """Every registered dataset with at least one complete split under `root` (default: the cache)."""
    rows = []
    for dataset in cacheable_datasets():
        splits = dataset.present_splits(root)
        if splits:
            directory = dataset.path(root)
            size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
            rows.append(CachedDataset(dataset.name, splits, size, directory))
    return rows


def cacheable_datasets() -> list[ImageSet]:
    """An instance of every registered dataset that keeps files in the cache (not image folders, not
    a plugin's dataset whose code does not import: `zoo plugins` reports those)."""
    out = []
    for name in dataset_names():
        try:
            dataset = dataset_for(name)
        except ZooError:
            continue
        if dataset.files:
            out.append(dataset)
    return out
