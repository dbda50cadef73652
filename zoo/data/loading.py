"""`load_dataset`: a split of a registered dataset, held in memory as uint8 tensors.

The dataset's class reads its files (`ImageSet.read`, zoo.data.sets); this module does what is
the same for every dataset: resolve the name, fetch or build on first use (`zoo.data.fetch`),
check shapes and labels, and hold out 'val' from the training split (`zoo.data.holdout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoo.config import validate_config
from zoo.data.base import DataError, Dataset, ImageSet
from zoo.data.catalog import dataset_for
from zoo.data.config import DataConfig
from zoo.data.fetch import ensure_split
from zoo.data.holdout import hold_out

if TYPE_CHECKING:
    import torch

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
    _check_in_memory(cfg, dataset, root)
    ensure_split(dataset, root, source, cfg.download)
    return hold_out(dataset.read_checked(root, source), split, cfg.val_size)


def fetch_for(data: DataConfig) -> None:
    """Make the configured dataset's splits readable (fetched or built when missing) without reading them."""
    dataset = dataset_for(data.name, data)
    root = dataset.root_for(data)
    for split in dataset.files:
        ensure_split(dataset, root, split, data.download)


def hold_out_positions(labels: torch.Tensor, split: str, val_size, name: str) -> torch.Tensor | None:
    """Positions, in the training split whose `labels` are given, of the examples of `split` ('train' or
    'val'): `hold_out` applied to the positions themselves (a streamed split holds no images to slice).
    None when the whole training split is meant."""
    import torch

    if split == "test" or val_size == 0:
        return None
    positions = Dataset(name, "train", torch.arange(len(labels)), labels, [], (), (), Path())
    return hold_out(positions, split, val_size).images


def _check_in_memory(cfg: DataConfig, dataset: ImageSet, root: Path) -> None:
    """This reader holds the split in memory: refuse a config that asks to stream, or data over the budget."""
    from zoo.data.budget import budget_bytes, describe_size

    if cfg.stream or cfg.augment == "imagenet":
        why = "data.stream=true" if cfg.stream else "data.augment=imagenet (per image, on the streaming path)"
        raise DataError(f"{why}, but this task reads its data into memory (only classifiers stream)")
    if cfg.stream is None:
        size, budget = dataset.decoded_bytes(root, "train", cfg.image_size), budget_bytes(cfg)
        if size > budget:
            raise DataError(f"{cfg.name} takes {describe_size(size)} decoded, more than the memory budget "
                            f"({describe_size(budget)}), and this task reads its data into memory (only "
                            f"classifiers stream); set a smaller data.image_size or a larger data.memory_budget")
