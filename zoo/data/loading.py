"""`load_dataset`: a split of a registered dataset, held in memory as uint8 tensors.

The dataset's class reads its files (`ImageSet.read`, zoo.data.sets); this module does what is
the same for every dataset: resolve the name, fetch or build on first use (`zoo.data.fetch`),
check shapes and labels, and hold out 'val' from the training split (`zoo.data.holdout`).
"""

from __future__ import annotations

from zoo.config import validate_config
from zoo.data.base import DataError, Dataset
from zoo.data.catalog import dataset_for
from zoo.data.config import DataConfig
from zoo.data.fetch import ensure_split
from zoo.data.holdout import hold_out

SPLITS = ("train", "val", "test")

__all__ = ["SPLITS", "Dataset", "load_dataset"]


def load_dataset(data: str | DataConfig | None = None, split: str = "train", **fields) -> Dataset:
    """Load `split` ('train', 'val' when `val_size` > 0, or 'test') of a dataset into memory.

    `data` is a DataConfig or a dataset name (None: DataConfig's default); `fields` are DataConfig
    fields (root, val_size, download, image_size, ...). A named dataset missing from `root` is
    fetched first when `download` is true.
    """
    base = data.model_dump() if isinstance(data, DataConfig) else {} if data is None else {"name": data}
    cfg = data if isinstance(data, DataConfig) and not fields else validate_config(DataConfig, {**base, **fields}, "data config")
    dataset = dataset_for(cfg.name, cfg)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; allowed: {', '.join(SPLITS)}")
    if split == "val" and cfg.val_size == 0:
        raise DataError("split 'val' needs val_size > 0 (it is held out from the training split)")
    source = "test" if split == "test" else "train"
    root = dataset.root_for(cfg)
    ensure_split(dataset, root, source, cfg.download)
    return hold_out(dataset.read_checked(root, source), split, cfg.val_size)
