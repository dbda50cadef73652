"""Normalisation statistics per model input channel.

A dataset declares (or a folder measures) its training split's mean and std per channel of its
own images. The model may take other channels (`prepare_batch` repeats grey for an RGB model
and takes luma of RGB for a grey one), and what a bundle records must fit the model's input,
since `zoo predict` feeds it images converted to the model's channels. So the statistics a task
normalises with, and writes into the bundle, are those of the model's channels:

- same channels: the dataset's own;
- grey data, k-channel model: the grey statistics repeated (normalising before or after the
  repeat gives the same numbers, so runs are unchanged);
- RGB data, grey model: the mean and std of the training split's luma, measured on its images
  (the luma's std is not a function of the per-channel stds).
"""

from __future__ import annotations

from typing import Any

from zoo.data.base import DataError
from zoo.data.config import DataConfig

Stats = tuple[tuple[float, ...], tuple[float, ...]]
_LUMA: dict[str, Stats] = {}


def model_stats(data: Any, in_chans: int, config: DataConfig) -> Stats:
    """(mean, std) of the training split per model input channel, for a loaded split `data` (a `Dataset` or
    a `StreamedSplit`) of the dataset `config` names."""
    c = data.in_chans
    if c == in_chans:
        return tuple(data.mean), tuple(data.std)
    if c == 1:
        return tuple(data.mean) * in_chans, tuple(data.std) * in_chans
    if c == 3 and in_chans == 1:
        return _luma(data, config)
    raise DataError(f"{data.name} has {c}-channel images; a model with in_chans={in_chans} cannot take them "
                    f"(grey and RGB images fit any model; set model.in_chans={c})")


def _luma(data: Any, config: DataConfig) -> Stats:
    from zoo.data.folder import luma_stats
    from zoo.data.streaming import StreamedSplit

    if isinstance(data, StreamedSplit):  # measured with its training split's other statistics
        return data.luma
    key = config.model_dump_json(include={"name", "root", "image_size"})
    if key not in _LUMA:
        if data.split == "train" and config.val_size == 0:  # the whole training split, as the declared statistics
            _LUMA[key] = luma_stats(data.images)
        else:
            from zoo.data.loading import load_dataset

            _LUMA[key] = luma_stats(load_dataset(config.model_copy(update={"val_size": 0}), "train").images)
    return _LUMA[key]
