"""zoo: a plugin-based model zoo for PyTorch.

`import zoo` is cheap: it imports no torch. Each public name is loaded from its module on
first use.
"""

from __future__ import annotations

from zoo.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "list_models": "zoo.api",
    "model_info": "zoo.api",
    "get_config": "zoo.api",
    "create_model": "zoo.api",
    "train": "zoo.workflow",
    "evaluate": "zoo.workflow",
    "sample": "zoo.workflow",
    "ZooError": "zoo.errors",
    "ModelConfig": "zoo.config",
    "ImageClassifierConfig": "zoo.config",
    "save_pretrained": "zoo.weights.bundle",
    "from_pretrained": "zoo.weights.bundle",
    "load": "zoo.weights.bundle",
    "load_weights": "zoo.weights.bundle",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, ("__version__",))
