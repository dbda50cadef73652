"""Reading and writing safetensors files, with every header field checked before any data is read.

The safetensors library validates files too; checking first lets a bad file be named in one
line (truncated, huge sizes, unknown dtype, a pickle in disguise) instead of a Rust error.
Reading the header is torch-free; loading the tensors imports torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.weights import WeightsError

# The safetensors format caps the header at 100 MB; larger claims are corrupt or hostile.
MAX_HEADER_BYTES = 100_000_000

ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}
FLOAT_DTYPES = {"F8_E4M3", "F8_E5M2", "F16", "BF16", "F32", "F64"}

# First bytes of what people hand us instead: a torch zip checkpoint, a raw pickle.
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    path: Path
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_header(path: str | Path) -> Header:
    """Parse and check a safetensors header: sizes, offsets, dtypes, shapes, metadata."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: truncated ({size} bytes): not a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                _refuse_pickle(path, head)
            if n > MAX_HEADER_BYTES:
                raise WeightsError(f"{path}: header claims {n:,} bytes (limit {MAX_HEADER_BYTES:,}): corrupt or not safetensors")
            if 8 + n > size:
                raise WeightsError(f"{path}: truncated: header claims {n:,} bytes but the file has {size - 8:,} after the length")
            raw = fh.read(n)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WeightsError(f"{path}: is a directory, not a safetensors file") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, integers past Python's digit limit, deep nesting
        _refuse_pickle(path, head)
        raise WeightsError(f"{path}: header is not valid JSON: corrupt or not safetensors") from None
    if not isinstance(doc, dict):
        raise WeightsError(f"{path}: header is not a JSON object")
    metadata = _metadata(path, doc.pop("__metadata__", None) or {})
    tensors = {name: _tensor_info(path, name, spec) for name, spec in doc.items()}
    _check_layout(path, tensors, size - 8 - n)
    return Header(path, metadata, tensors)


def _refuse_pickle(path: Path, head: bytes) -> None:
    """Called once the bytes failed as safetensors: a length whose low byte is 0x80 is legal there."""
    if head.startswith(_ZIP_MAGIC) or (head[:1] == _PICKLE_MAGIC and head[1] in range(2, 6)):
        raise WeightsError(f"{path}: is a pickled torch checkpoint, not safetensors; it was not opened "
                           "(convert a trusted one with `zoo weights convert`)")


def _metadata(path: Path, meta: Any) -> dict[str, str]:
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise WeightsError(f"{path}: header __metadata__ must map strings to strings")
    return meta


def _tensor_info(path: Path, name: str, spec: Any) -> TensorInfo:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise WeightsError(f"{path}: tensor '{name}': header entry needs exactly dtype, shape, data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in ITEMSIZE:
        raise WeightsError(f"{path}: tensor '{name}': unknown dtype {dtype!r} (known: {', '.join(ITEMSIZE)})")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise WeightsError(f"{path}: tensor '{name}': shape must be a list of non-negative integers, got {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise WeightsError(f"{path}: tensor '{name}': bad data_offsets {offsets!r}")
    info = TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])
    if info.numel * ITEMSIZE[dtype] != info.end - info.begin:
        raise WeightsError(f"{path}: tensor '{name}': shape {list(shape)} of {dtype} needs "
                           f"{info.numel * ITEMSIZE[dtype]:,} bytes but its offsets span {info.end - info.begin:,}")
    return info


def _check_layout(path: Path, tensors: dict[str, TensorInfo], data_size: int) -> None:
    """Tensors must tile the data area: no byte outside the file, no overlap, no gap."""
    pos = 0
    for name, info in sorted(tensors.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if info.end > data_size:
            raise WeightsError(f"{path}: truncated or corrupt: tensor '{name}' ends at byte {info.end:,} "
                               f"but the file holds {data_size:,} data bytes")
        if info.begin != pos:
            raise WeightsError(f"{path}: corrupt: tensor '{name}' starts at byte {info.begin:,}, expected {pos:,} "
                               "(overlapping or gapped tensors)")
        pos = info.end
    if pos != data_size:
        raise WeightsError(f"{path}: corrupt: {data_size - pos:,} trailing bytes after the last tensor")


def load_tensors(path: str | Path) -> tuple[Header, dict[str, Any]]:
    """Check the header, then load every tensor (CPU). Memory-mapped by safetensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    header = read_header(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{path}: cannot be read as safetensors: {err}") from None
    return header, tensors


def save_tensors(tensors: dict[str, Any], path: str | Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (temp file in the same directory, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors creates 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
