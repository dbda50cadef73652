"""Parameter counts and layer summaries (imports torch; used by `zoo info` and `zoo build`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_parameters_for(spec: Any, config: Any) -> int:
    """Parameter count of a model at `config`, built on the meta device where possible (no memory, no init)."""
    from zoo.api import build

    try:
        with torch.device("meta"):
            model = build(spec, config)
    except (NotImplementedError, RuntimeError):
        model = build(spec, config)
    return count_parameters(model)


def output_shapes(out: Any) -> tuple[int, ...] | list | None:
    """Shape of a tensor output, or a list of shapes for tuples and dataclasses of tensors."""
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return [output_shapes(o) for o in out]
    if hasattr(out, "__dataclass_fields__"):
        return [output_shapes(getattr(out, f)) for f in out.__dataclass_fields__]
    return None


def layer_summary(model: nn.Module, example: torch.Tensor) -> tuple[list[LayerRow], Any]:
    """Run `example` through `model` (eval mode, no grad) recording each leaf layer's output shape."""
    shapes: dict[str, Any] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
            shapes.setdefault(name, output_shapes(out))
        return hook

    hooks = [
        module.register_forward_hook(record(name))
        for name, module in model.named_modules()
        if name and not list(module.children())
    ]
    model.eval()
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        for h in hooks:
            h.remove()
    rows = [
        LayerRow(name, type(module).__name__, shapes.get(name), sum(p.numel() for p in module.parameters(recurse=False)))
        for name, module in model.named_modules()
        if name and not list(module.children())
    ]
    return rows, out
