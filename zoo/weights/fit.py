"""Strict loading: check a state dict against a model by name, shape and dtype, then load it.

Every difference is listed by name. The one opt-in exception, `adapt_head`, leaves a
classifier head freshly initialised when only its class dimension differs (fine-tuning on
another label set), and says which tensors it re-initialised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from zoo.weights import NonFiniteWeightsWarning, WeightsError

_SHOWN = 12  # names listed per kind of difference before "+N more"


@dataclass
class Fit:
    """How a state dict matches a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    wrong_dtype: list[tuple[str, torch.dtype, torch.dtype]] = field(default_factory=list)
    head: list[str] = field(default_factory=list)

    def problems(self, strict: bool) -> list[str]:
        out = []
        if strict and self.missing:
            out.append(f"missing {_names(self.missing)}")
        if strict and self.unexpected:
            out.append(f"unexpected {_names(self.unexpected)}")
        if self.mismatched:
            shown = [f"{n} (weights {list(a)} vs model {list(b)})" for n, a, b in self.mismatched]
            out.append(f"shape mismatch {_names(shown)}")
        if self.wrong_dtype:
            shown = [f"{n} ({_dt(a)} vs model {_dt(b)})" for n, a, b in self.wrong_dtype]
            out.append(f"wrong dtype {_names(shown)}")
        return out


def _names(items: list[str]) -> str:
    more = f", +{len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _dt(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _is_head(model: nn.Module, got: torch.Size, want: torch.Size) -> bool:
    """A classifier tensor: only dim 0 differs, and the model's dim 0 is its num_classes."""
    num_classes = getattr(getattr(model, "zoo_config", None), "num_classes", None)
    return num_classes is not None and want[0] == num_classes and len(got) == len(want) and got[1:] == want[1:]


def _dtype_fits(got: torch.dtype, want: torch.dtype) -> bool:
    """Floats load into floats of any precision (copy casts); anything else must match exactly."""
    return got == want or (got.is_floating_point and want.is_floating_point)


def match(model: nn.Module, tensors: dict[str, torch.Tensor], adapt_head: bool = False) -> Fit:
    own = model.state_dict()
    fit = Fit(missing=[k for k in own if k not in tensors], unexpected=[k for k in tensors if k not in own])
    for name, t in tensors.items():
        want = own.get(name)
        if want is None:
            continue
        if t.shape != want.shape:
            if adapt_head and _is_head(model, t.shape, want.shape):
                fit.head.append(name)
            else:
                fit.mismatched.append((name, tuple(t.shape), tuple(want.shape)))
        elif not _dtype_fits(t.dtype, want.dtype):
            fit.wrong_dtype.append((name, t.dtype, want.dtype))
    return fit


def load_into(model: nn.Module, tensors: dict[str, torch.Tensor], *, source: str, strict: bool = True,
              adapt_head: bool = False) -> Fit:
    """Check, then load. Raises WeightsError listing every difference; warns on NaN/Inf values."""
    fit = match(model, tensors, adapt_head)
    problems = fit.problems(strict)
    if problems:
        hint = "; pass adapt_head=True (--adapt-head) to re-initialise the classifier head" if _head_hint(model, fit) else ""
        raise WeightsError(f"{source} does not fit {getattr(model, 'zoo_name', type(model).__name__)}: "
                           + "; ".join(problems) + hint)
    skip = set(fit.head) | set(fit.unexpected)
    warn_nonfinite({k: v for k, v in tensors.items() if k not in skip}, source)
    model.load_state_dict({k: v for k, v in tensors.items() if k not in skip}, strict=False)
    return fit


def _head_hint(model: nn.Module, fit: Fit) -> bool:
    return any(_is_head(model, torch.Size(a), torch.Size(b)) for _, a, b in fit.mismatched)


def nonfinite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """'name (k of n values)' for every floating tensor holding NaN or Inf."""
    bad = []
    for name, t in tensors.items():
        if t.is_floating_point():
            count = int((~torch.isfinite(t)).sum())
            if count:
                bad.append(f"{name} ({count:,} of {t.numel():,} values)")
    return bad


def warn_nonfinite(tensors: dict[str, torch.Tensor], source: str) -> None:
    bad = nonfinite(tensors)
    if bad:
        warnings.warn(NonFiniteWeightsWarning(f"{source}: NaN/Inf weights in {_names(bad)}"), stacklevel=3)
