"""Shell completion (`zoo --install-completion`): names from the listing index, without torch.

Model names, families and pretrained tags come from `zoo.index` (refreshed through the
registry when stale, which costs pydantic but never torch); datasets from the catalog;
export formats from `zoo.formats`. Matching forgives case and `-`/`_`, as name resolution does.
"""

from __future__ import annotations

import re
from typing import Any


def _key(text: str) -> str:
    return re.sub(r"[-_]+", "_", text).lower()


def _matching(candidates: list[str], incomplete: str) -> list[str]:
    start = _key(incomplete)
    return [c for c in candidates if _key(c).startswith(start)]


def _index() -> dict[str, Any]:
    from zoo.index import index_rows, load_index

    doc = load_index()
    if doc is None:
        from zoo.registry import get_registry

        doc = index_rows(get_registry())
    return doc


def model_names(incomplete: str) -> list[str]:
    """Models, families and `model.tag`s: whatever a command taking a model name accepts."""
    doc = _index()
    names = [m["name"] for m in doc["models"]]
    tagged = [f"{m['name']}.{tag}" for m in doc["models"] for tag in m["pretrained"]]
    return _matching(sorted({*names, *doc["families"]}) + sorted(tagged), incomplete)


def pretrained_tags(incomplete: str) -> list[str]:
    doc = _index()
    return _matching(sorted(f"{m['name']}.{tag}" for m in doc["models"] for tag in m["pretrained"]), incomplete)


def families(incomplete: str) -> list[str]:
    return _matching(list(_index()["families"]), incomplete)


def tasks(incomplete: str) -> list[str]:
    return _matching(list(_index()["tasks"]), incomplete)


def datasets(incomplete: str) -> list[str]:
    from zoo.data.cache import cacheable_datasets

    return _matching([d.name for d in cacheable_datasets()], incomplete)


def formats(incomplete: str) -> list[str]:
    from zoo.formats import FORMATS

    return _matching(list(FORMATS), incomplete)
