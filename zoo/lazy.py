"""Public names a package loads on first use, so `import zoo` (or `zoo.data`, `zoo.metrics`,
`zoo.text`) imports no torch: each name is imported from its module when first read."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `import zoo` stays as light as it can: zoo list starts from here
    from collections.abc import Callable


def lazy_exports(package: str, table: dict[str, str], eager: tuple[str, ...] = ()) -> tuple[Callable, Callable, list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for `package`, whose names in `table` live in the modules named."""
    namespace = sys.modules[package].__dict__
    names = [*eager, *table]

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, names
