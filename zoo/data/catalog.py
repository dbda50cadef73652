"""Which dataset a name means, through the registry's `datasets:` entries (torch-free).

A name resolves as the registry resolves contributions (`plugin:name` exact; case and `-`/`_`
forgiven), then through the datasets' declared `aliases` ('fmnist'), then, when it is a
directory path, to the dataset that claims paths (image folders). Anything else is a DataError
with the near names. The dataset modules are imported when a name is resolved; they import no
torch until they read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.data.base import DataError, DatasetInfo, ImageSet, as_image_set
from zoo.errors import PluginError, ZooError

if TYPE_CHECKING:
    from zoo.data.config import DataConfig

__all__ = ["DATASETS", "DataError", "DatasetInfo", "dataset_class", "dataset_for", "dataset_info", "dataset_names",
           "is_folder_path"]


def dataset_names() -> list[str]:
    """Every registered dataset's name, in the registry's order."""
    from zoo.registry import contribution_names

    return contribution_names("datasets")


def is_folder_path(name: str) -> bool:
    """A dataset 'name' that is really a directory path (`--data ./pets`)."""
    return "/" in name or "\\" in name or name.startswith(".") or Path(name).expanduser().is_dir()


def dataset_class(name: str) -> type[ImageSet]:
    """The dataset class `name` means, or a DataError with hints (a broken plugin's: a PluginError)."""
    from zoo.registry import UnknownContributionError, contribution

    key = _key(name)
    try:
        spec = contribution("datasets", key)
    except UnknownContributionError:
        spec = None
    if spec is not None:
        return as_image_set(spec.load(), spec.name)
    for candidate in _loadable():
        if key.replace("-", "") in {_key(a).replace("-", "") for a in candidate.aliases}:
            return candidate
    if is_folder_path(name):
        claimant = next((c for c in _loadable() if c.claims_paths), None)
        if claimant is not None:
            return claimant
    names = dataset_names()
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f"did you mean: {', '.join(close)}" if close else f"available: {', '.join(names)}"
    raise DataError(f"no dataset '{name}'; {hint}")


def dataset_for(name: str, config: DataConfig | None = None, _chain: tuple[str, ...] = ()) -> ImageSet:
    """An instance of the dataset `name` means, for `config`; a derived one gets its source's instance."""
    cls = dataset_class(name)
    if cls.derived_from is None:
        return cls(config)
    chain = (*_chain, cls.name)
    if _key(cls.derived_from) in {_key(n) for n in chain}:
        raise PluginError(f"dataset '{chain[0]}' is derived from itself ({' -> '.join([*chain, cls.derived_from])})")
    try:
        parent = dataset_for(cls.derived_from, config, chain)
    except DataError as err:
        raise PluginError(f"dataset '{cls.name}' is derived from '{cls.derived_from}': {err}") from None
    return cls(config, parent)


def dataset_info(name: str) -> DatasetInfo:
    """What the registry's dataset `name` is (case, `_` and aliases forgiven), or a DataError with hints."""
    return dataset_class(name).info()


def _loadable() -> Iterator[type[ImageSet]]:
    """Every registered dataset class that imports; broken ones are left to `zoo plugins` to report."""
    from zoo.registry import load_contribution

    for name in dataset_names():
        try:
            yield as_image_set(load_contribution("datasets", name), name)
        except ZooError:
            continue


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class _Catalog(Mapping):
    """`DATASETS[name]`: the info of every registered dataset, read from the registry when asked."""

    def __getitem__(self, name: str) -> DatasetInfo:
        if not isinstance(name, str) or _key(name) not in {_key(n) for n in dataset_names()}:
            raise KeyError(name)
        return dataset_info(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dataset_names())

    def __len__(self) -> int:
        return len(dataset_names())

    def __repr__(self) -> str:
        return f"DATASETS({', '.join(self)})"


DATASETS: Mapping[str, DatasetInfo] = _Catalog()
