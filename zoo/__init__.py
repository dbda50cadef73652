"""zoo: a plugin-based model zoo for PyTorch.

`import zoo` is cheap: it imports no torch. Each public name is loaded from its module on
first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "list_models": "zoo.api",
    "model_info": "zoo.api",
    "get_config": "zoo.api",
    "create_model": "zoo.api",
    "ZooError": "zoo.errors",
    "ModelConfig": "zoo.config",
    "ImageClassifierConfig": "zoo.config",
    "save_pretrained": "zoo.weights.bundle",
    "from_pretrained": "zoo.weights.bundle",
    "load": "zoo.weights.bundle",
    "load_weights": "zoo.weights.bundle",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
