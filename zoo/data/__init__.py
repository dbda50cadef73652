"""Datasets for training and evaluation: named datasets, image folders, fetching, batching.

`import zoo.data` imports no torch; the loaders import torch and torchvision when called.

    from zoo.data import DataConfig, load_dataset, prepare_batch, DATASETS

    ds = load_dataset("mnist", split="train")        # fetched into $ZOO_HOME/data when missing
    ds = load_dataset(DataConfig(name="mnist", val_size=5000), split="val")   # 5000 of train, stratified
    ds = load_dataset("./pets", split="test", image_size=64)                  # an ImageFolder tree
    ds.images    # torch.uint8, N x C x H x W, in memory
    ds.labels    # torch.int64, N
    ds.classes   # list[str];  ds.name, ds.split, ds.root
    ds.mean, ds.std   # per-channel training-split statistics on the [0, 1] scale

    idx = torch.randperm(len(ds), generator=g)[:128]          # batching = indexing tensors
    x = prepare_batch(ds.images[idx], image_size=32, in_chans=1, mean=ds.mean, std=ds.std)
    y = ds.labels[idx]                                         # x: 128 x 1 x 32 x 32 float32

`prepare_batch` is the default transform derived from the model's input: uint8 -> [0, 1],
pad (by at most 4 px a side, e.g. MNIST 28 -> 32, as LeNet-5) or bilinear resize to
`image_size`, normalise, then match channels (grey -> RGB repeats, RGB -> grey takes luma).
Pass `fit=cfg.fit` to follow a DataConfig.

Datasets are registry contributions: each is one `ImageSet` subclass in one file (the built-in
ones in `zoo.data.sets`: mnist, fashion-mnist, cifar10, mnist-captions, folder), declared in a
manifest's `datasets:` section, so a plugin adds one exactly as the zoo does (see
`zoo.data.base`). `DATASETS[name]` / `dataset_info(name)` describe each (shape, classes,
statistics) without reading files; `zoo list --datasets` lists them. A directory path means an
image folder. Splits: 'train', 'test', and 'val' = `val_size` training examples (a seeded,
class-stratified draw, `zoo.data.holdout`; 'auto' = 10%, at most 5,000) when `val_size` is not 0.

Files live in `$ZOO_HOME/data` (default ~/.cache/zoo/data), each dataset under its own folder
(torchvision's layout for the built-in ones, so a torchvision `root` works as `DataConfig.root`).
`fetch(name)` fetches and verifies a dataset (`zoo data fetch NAME`), or builds a derived one
from its source (mnist-captions from mnist); `cached_datasets()` lists what is there (`zoo data
list`). Every problem (unknown name, missing or corrupt files, failed download) raises
`DataError`, a `ZooError`: one line, exit code 2 in the CLI.
"""

from __future__ import annotations

from zoo.data.base import DataError, Dataset, DatasetInfo, ImageSet
from zoo.data.catalog import DATASETS, dataset_info
from zoo.data.config import DataConfig
from zoo.lazy import lazy_exports

_LAZY = {
    "load_dataset": "zoo.data.loading",
    "prepare_batch": "zoo.data.transforms",
    "fetch": "zoo.data.fetch",
    "cached_datasets": "zoo.data.cache",
}

_EAGER = ("DATASETS", "DataConfig", "DataError", "Dataset", "DatasetInfo", "ImageSet", "dataset_info")
__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, _EAGER)
