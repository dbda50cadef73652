"""Writing IDX files, the format torchvision.datasets.MNIST reads (torch-free; numpy only).

An IDX file is a 4-byte magic (0, 0, type 0x08 = unsigned byte, number of dimensions), one
big-endian uint32 per dimension, then the values in C order.
"""

from __future__ import annotations

from pathlib import Path

from zoo.data.download import write_atomic

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
