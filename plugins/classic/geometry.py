"""Feature-map arithmetic shared by the classic families, and the 'auto' config values it decides.

A config field whose value depends on the input size (a stem stride, a pooling grid) takes
'auto'; `resolve_auto` replaces it with the concrete value before validation, so `zoo info`,
`zoo build` and saved configs always show what the model actually does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, ceil: bool = False) -> int:
    """Output side of a convolution or pooling window (PyTorch's formula, ceil_mode included)."""
    span = size + 2 * padding - kernel
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    # PyTorch drops a last ceil-mode window that would start inside the right padding.
    if ceil and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def chain(size: int, *steps: tuple[int, int, int, bool]) -> int:
    """Side after successive (kernel, stride, padding, ceil) windows; 0 once nothing is left."""
    for kernel, stride, padding, ceil in steps:
        size = conv_out(size, kernel, stride, padding, ceil)
        if size < 1:
            return 0
    return size


def resolve_auto(data: Any, defaults: dict[str, Any], rules: dict[str, Callable[[dict[str, Any]], Any]]) -> Any:
    """For each field left at (or set to) 'auto', put `rule(values)` in its place.

    `values` is the raw input over the class defaults, so rules can read `image_size` etc.
    """
    if not isinstance(data, dict):
        return data
    values = {**defaults, **data}
    out = dict(data)
    for name, rule in rules.items():
        if out.get(name, "auto") == "auto":
            try:
                out[name] = rule(values)
            except (TypeError, ValueError, KeyError, ArithmeticError):
                continue  # a bad input field; pydantic reports it, 'auto' stays
    return out


def field_defaults(cls: Any) -> dict[str, Any]:
    """Default values of a pydantic model class's fields (those that have one)."""
    return {name: f.default for name, f in cls.model_fields.items() if not f.is_required()}
