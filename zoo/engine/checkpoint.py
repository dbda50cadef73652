"""Resumable checkpoints as one safetensors file: tensors, plus a JSON document in its metadata.

Tensor names: `model.<param>`, `optim.<group>.<param index>.<state key>` (e.g. Adam's
`exp_avg`), `rng.torch`, `rng.cuda.<device>`. The metadata key `zoo_checkpoint` holds the
JSON rest: progress counters, optimizer hyper-parameters and non-tensor state, scheduler
state, epoch accumulators, and under fp16 each optimizer's GradScaler state (its scale, a
power of two, and growth counter: exact in JSON, so a resumed fp16 run scales as it would have). No pickle anywhere; the file is written to a temp name and
renamed, so a kill at any moment leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.weights.safefile import load_tensors, save_tensors

META_KEY = "zoo_checkpoint"
FORMAT = "zoo-checkpoint/1"


class CheckpointError(ZooError):
    """A checkpoint that is missing, unreadable, or belongs to another model or config."""


def unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous tensors, each with its own storage (safetensors refuses shared storage)."""
    seen: set[int] = set()
    out = {}
    for name, t in tensors.items():
        t = t.detach()
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        elif ptr is not None:
            seen.add(ptr)
        out[name] = t.cpu() if t.device.type != "cpu" else t
    return out


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state_dict into tensors and a JSON-able rest."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{name}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for index, values in doc["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, _, field = key[len(prefix):].partition(".")
            state.setdefault(int(index), {})[field] = value
    optimizer.load_state_dict({"state": state, "param_groups": doc["param_groups"]})


def rng_tensors() -> dict[str, torch.Tensor]:
    out = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{i}"] = s
    return out


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    schedulers: dict[str, Any], state: dict[str, Any], scalers: dict[str, Any] | None = None) -> None:
    """Write model, optimizers, schedulers, gradient scalers, RNG and `state` (JSON-able progress) atomically."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_docs = {}
    for name, opt in optimizers.items():
        t, optim_docs[name] = optimizer_tensors(name, opt)
        tensors.update(t)
    tensors.update(rng_tensors())
    doc = {"format": FORMAT, "state": state, "optimizers": optim_docs,
           "schedulers": {n: s.state_dict() for n, s in schedulers.items() if s is not None},
           "scalers": {n: s.state_dict() for n, s in (scalers or {}).items()}}
    save_tensors(unshared(tensors), path, {META_KEY: json.dumps(doc)})


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no checkpoint ({path.name} is missing)")
    header, tensors = load_tensors(path)
    try:
        doc = json.loads(header.metadata[META_KEY])
        if doc.get("format") != FORMAT:
            raise ValueError(doc.get("format"))
    except (KeyError, ValueError, TypeError, RecursionError, AttributeError):
        raise CheckpointError(f"{path}: not a zoo checkpoint") from None
    return tensors, doc


def restore(tensors: dict[str, torch.Tensor], doc: dict[str, Any], model: nn.Module,
            optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any], source: Path,
            scalers: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load everything `save_checkpoint` wrote back into live objects; returns the progress state."""
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    check_model_fits(model, weights, source)
    model.load_state_dict(weights)
    for name, opt in optimizers.items():
        load_optimizer(name, opt, tensors, doc["optimizers"][name])
    for name, sched in schedulers.items():
        if sched is None:
            continue
        saved = doc["schedulers"][name]
        if saved.get("t_initial") == getattr(sched, "t_initial", None):
            sched.load_state_dict(saved)
        # else: the run was extended (--epochs), so the schedule is the new config's, re-planned
        # over the longer run; timm schedules are functions of the update count, so this sets the lr.
        sched.step_update(doc["state"]["step"])
    for name, scaler in (scalers or {}).items():
        if name in doc.get("scalers", {}):  # a run's precision cannot change on resume: its scalers were saved
            scaler.load_state_dict(doc["scalers"][name])
    restore_rng(tensors)
    return doc["state"]


def check_model_fits(model: nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    """Refuse a checkpoint whose tensors do not match the model the config builds, naming what differs."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in weights.items()}
    missing, extra = sorted(own.keys() - saved.keys()), sorted(saved.keys() - own.keys())
    shapes = [f"{k} {saved[k]} vs {own[k]}" for k in sorted(own.keys() & saved.keys()) if own[k] != saved[k]]
    if missing or extra or shapes:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
                ([f"unexpected {', '.join(extra[:3])}"] if extra else []) + \
                ([f"shape {'; '.join(shapes[:3])}"] if shapes else [])
        raise CheckpointError(f"{source}: checkpoint disagrees with the run's model config ({'; '.join(parts)})")
