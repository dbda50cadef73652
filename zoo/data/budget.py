"""When a dataset streams: its decoded size against the memory budget (torch-free).

A split streams when `data.stream` is true, or, left unset, when it would take more than
`data.memory_budget` decoded (default: half the RAM available when the run starts, shared by
the training processes of a node) or `data.augment` is `imagenet` (a per-image pipeline).
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.data.base import ImageSet
from zoo.data.config import DataConfig

GIB = 1 << 30


def budget_bytes(config: DataConfig) -> int:
    """`data.memory_budget` GiB, or half the available RAM, divided among the node's training processes."""
    if config.memory_budget is not None:
        return int(config.memory_budget * GIB)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return available_ram() // 2 // local


def available_ram() -> int:
    """Bytes of RAM available now (MemAvailable), else free pages; unbounded when neither can be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def streams(config: DataConfig, dataset: ImageSet, root: Path, image_size: int | None = None) -> bool:
    """Whether the run reads this dataset by streaming (see the module doc)."""
    if config.stream is not None:
        return config.stream
    if config.augment == "imagenet":
        return True
    return dataset.decoded_bytes(root, "train", image_size) > budget_bytes(config)


def describe_size(n_bytes: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes / 1024:.1f} KiB"
