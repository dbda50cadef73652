"""`load_dataset`: a split of a dataset, held in memory as uint8 tensors.

MNIST and Fashion-MNIST are read by torchvision.datasets (download=False: fetching is ours,
see `zoo.data.fetch`). Image folders go through torchvision's ImageFolder, decoded once and
resized to the model's input size. CIFAR-10 uses torchvision's file layout and checksum
tables, but its batch files are pickles, and torchvision opens them with a plain
`pickle.load`; we read them with the numpy-only unpickler instead, because the zoo never runs
code from a data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.config import validate_config
from zoo.data.cache import LAYOUT, dataset_dir, default_root, present_splits, split_files
from zoo.data.catalog import DataError, DatasetInfo, dataset_info
from zoo.data.config import DataConfig

SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    """One split in memory: `images` N x C x H x W uint8, `labels` N int64."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]  # per channel, [0, 1] scale, of the training data
    std: tuple[float, ...]
    root: Path

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def in_chans(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[-2:])

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"shape={tuple(self.images.shape[1:])}, classes={len(self.classes)})")


def load_dataset(data: str | DataConfig = "mnist", split: str = "train", **fields) -> Dataset:
    """Load `split` ('train', 'val' when `val_size` > 0, or 'test') of a dataset into memory.

    `data` is a DataConfig or a dataset name; `fields` are DataConfig fields (root, val_size,
    download, image_size, ...). A named dataset missing from `root` is fetched first when
    `download` is true.
    """
    base = data.model_dump() if isinstance(data, DataConfig) else {"name": data}
    cfg = data if isinstance(data, DataConfig) and not fields else validate_config(DataConfig, {**base, **fields}, "data config")
    info = dataset_info(cfg.name)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; allowed: {', '.join(SPLITS)}")
    if split == "val" and cfg.val_size == 0:
        raise DataError("split 'val' needs val_size > 0 (it is held out from the training split)")
    source = "test" if split == "test" else "train"
    if info.name == "folder":
        ds = _load_folder(cfg, source)
    elif info.name == "mnist-captions":
        ds = _load_captions(cfg, source)
    else:
        ds = _load_named(info, cfg, source)
    return _hold_out(ds, split, cfg.val_size)


def _hold_out(ds: Dataset, split: str, val_size: int) -> Dataset:
    """'val' is the last `val_size` training examples, 'train' the rest."""
    if split == "test" or val_size == 0:
        return ds
    n = len(ds)
    if val_size >= n:
        raise DataError(f"val_size={val_size} leaves no training data ({ds.name} has {n} training examples)")
    part = slice(n - val_size, n) if split == "val" else slice(0, n - val_size)
    ds.images, ds.labels, ds.split = ds.images[part], ds.labels[part], split
    for name in getattr(ds, "per_example", ()):  # a dataset's own per-example tensors (mnist-captions' captions)
        setattr(ds, name, getattr(ds, name)[part])
    return ds


def _load_named(info: DatasetInfo, cfg: DataConfig, split: str) -> Dataset:
    root = Path(cfg.root or default_root()).expanduser()
    if split not in present_splits(info.name, root):
        if not cfg.download:
            raise DataError(f"{info.name} ({split}) is not in {dataset_dir(info.name, root)}; "
                            f"run `{_fetch_command(info.name, root)}` or allow download")
        import sys

        from zoo.data.fetch import fetch

        print(f"fetching {info.name} into {dataset_dir(info.name, root)}", file=sys.stderr)  # a fetch takes seconds
        fetch(info.name, root)
    reader = _read_cifar10 if info.name == "cifar10" else _read_idx
    images, labels, classes = reader(info, root, split)
    _check(info, root, images, labels, len(classes))
    return Dataset(info.name, split, images, labels, classes, info.mean, info.std, root)


def _read_idx(info: DatasetInfo, root: Path, split: str):
    """MNIST-format files through torchvision's class: N x 28 x 28 uint8 -> N x 1 x 28 x 28."""
    from torchvision.datasets import MNIST, FashionMNIST

    cls = MNIST if info.name == "mnist" else FashionMNIST
    try:
        tv = cls(str(root), train=split == "train", download=False)
    except Exception as err:  # torchvision reports bad files with assert/TypeError/ValueError/RuntimeError
        raise _corrupt(info, root, split, err) from None
    return tv.data.unsqueeze(1), tv.targets.to(torch.int64), list(tv.classes)


def _read_cifar10(info: DatasetInfo, root: Path, split: str):
    """CIFAR-10's python batches (dicts of a N x 3072 uint8 array and a label list) -> N x 3 x 32 x 32."""
    import numpy as np

    from zoo.data.numpy_pickle import load_numpy_pickle

    files = split_files(info.name, split, root)
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
        raise _corrupt(info, root, split, err) from None
    return images, torch.from_numpy(labels), classes


def _corrupt(info: DatasetInfo, root: Path, split: str, err: Exception) -> DataError:
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"{info.name} ({split}) files in {dataset_dir(info.name, root)} are corrupt ({detail}); "
                     f"delete them and run `{_fetch_command(info.name, root)}`")


def _fetch_command(name: str, root: Path) -> str:
    return f"zoo data fetch {name}" + ("" if root == default_root() else f" --root {root}")


def _check(info: DatasetInfo, root: Path, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    """One label per image, labels in range, the catalog's image shape."""
    where = dataset_dir(info.name, root)
    expected = (info.in_chans, info.image_size, info.image_size)
    if tuple(images.shape[1:]) != expected:
        raise DataError(f"{info.name} images in {where} are {tuple(images.shape[1:])}, expected {expected}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{info.name} in {where} is corrupt: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{info.name} in {where} is corrupt: labels outside 0..{num_classes - 1}")


def _load_captions(cfg: DataConfig, split: str) -> Dataset:
    """mnist-captions: built from the cached MNIST on first use (zoo.data.captions)."""
    from zoo.data.captions import load_captioned

    mnist = dataset_info("mnist")
    return load_captioned(Path(cfg.root or default_root()).expanduser(), split, lambda s: _load_named(mnist, cfg, s))


def _load_folder(cfg: DataConfig, split: str) -> Dataset:
    from zoo.data.folder import load_image_folder

    return load_image_folder(cfg, split)
