"""IDX files, the format torchvision.datasets.MNIST reads: writing them (numpy only) and reading a split.

An IDX file is a 4-byte magic (0, 0, type 0x08 = unsigned byte, number of dimensions), one
big-endian uint32 per dimension, then the values in C order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoo.data.download import write_atomic

if TYPE_CHECKING:
    from zoo.data.base import Dataset, ImageSet

UBYTE = 0x08


def idx_bytes(array) -> bytes:
    """The IDX encoding of a uint8 numpy array of 1 to 3 dimensions."""
    import numpy as np

    if array.dtype != np.uint8 or not 1 <= array.ndim <= 3:
        raise ValueError(f"IDX files here hold uint8 arrays of 1-3 dims, got {array.dtype} with {array.ndim}")
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: Path, array) -> Path:
    """Write `array` as an IDX file atomically (temp file in the same directory, then rename)."""
    return write_atomic(path, idx_bytes(array))


def read_idx(dataset: ImageSet, torchvision_class: str, root: Path, split: str) -> Dataset:
    """An MNIST-format split through torchvision's class of that name (`MNIST`, `FashionMNIST`, which
    look in root/<class>/raw): N x 28 x 28 uint8 -> N x 1 x 28 x 28, labels int64."""
    import torch
    import torchvision.datasets

    cls = getattr(torchvision.datasets, torchvision_class)
    try:
        tv = cls(str(root), train=split == "train", download=False)
    except Exception as err:  # torchvision reports bad files with assert/TypeError/ValueError/RuntimeError
        raise dataset.corrupt(root, split, err) from None
    return dataset.make_split(split, tv.data.unsqueeze(1), tv.targets.to(torch.int64), root)
