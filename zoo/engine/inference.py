"""A trained model and its task, for `zoo eval`, `zoo predict` and `zoo sample`.

The weights come from the model name's pretrained tag (`zoo sample lenet5.mnist`) or from
`--weights`: a bundle directory, a run directory (its `bundle/`, else its `last.safetensors`),
a zoo .safetensors file, a pretrained tag or an `hf://` reference.
Preprocessing follows what the weights were trained with: a run's data config, else the
bundle's recorded mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.engine.rundir import BUNDLE, LAST, RunDir
from zoo.errors import ZooError


@dataclass
class Loaded:
    model: nn.Module
    task: Any
    source: str


def weights_source(weights: str) -> tuple[str, dict[str, Any] | None]:
    """(what zoo.weights reads, the run's data section if `weights` is a run directory)."""
    path = Path(weights)
    run = RunDir(path)
    if path.is_dir() and run.is_run():
        data = run.read_config_doc().get("data")
        if (path / BUNDLE).is_dir():
            return str(path / BUNDLE), data
        if (path / LAST).is_file():
            return str(path / LAST), data
        raise ZooError(f"{path}: the run has no weights yet (no {BUNDLE}/ or {LAST})")
    return weights, None


def load_trained(weights: str | None, model_name: str | None = None, data: str | None = None,
                 device: str = "auto") -> Loaded:
    """The model from `weights`, or from the tag in `model_name` (`lenet5.mnist`), with its task, in eval mode.

    A `model_name` given with `weights` must be the model the weights belong to.
    """
    from zoo.data import DataConfig
    from zoo.engine.config import ModelSection, RunConfig, recipe_of
    from zoo.engine.distributed import Dist, pick_device
    from zoo.names import resolve
    from zoo.tasks import task_class
    from zoo.weights.bundle import from_pretrained
    from zoo.weights.tags import pick_weights

    weights, model_name = pick_weights(model_name, weights)
    source, run_data = weights_source(weights)
    model = from_pretrained(source)
    spec, _ = resolve(model.zoo_name)
    if model_name is not None:
        asked = resolve(model_name)[0].qualified_name
        if asked != spec.qualified_name:
            raise ZooError(f"{weights} holds weights of {spec.qualified_name}, not {asked}")
    bundle = getattr(model, "zoo_bundle", None)
    pre = bundle.preprocessing if bundle is not None else None
    data_doc = dict(run_data or {})
    if data is not None:
        data_doc = {"name": data} if data_doc.get("name") != data else data_doc
    elif not data_doc:
        data_doc = {"name": bundle.data if bundle is not None and bundle.data else "mnist"}
    if run_data is None and pre is not None:
        data_doc["normalize"] = pre.mean is not None
    config = RunConfig(model=ModelSection(name=spec.qualified_name, config=model.zoo_config),
                       data=DataConfig(**data_doc),
                       train=recipe_of(model.zoo_config))  # the weights' own recipe: a critic's batch splits into d_steps
    dev = pick_device(device, Dist())
    model = model.to(dev).eval()
    task = task_class(spec.entry.task)(model, config, dev)
    if pre is not None and pre.mean is not None:
        task.mean, task.std = tuple(pre.mean), tuple(pre.std)
    if pre is not None and pre.class_names:
        task.classes = list(pre.class_names)
    return Loaded(model, task, source)


def load_eval_split(loaded: Loaded, split: str, limit: int | None = None) -> dict[str, torch.Tensor]:
    """The split, keeping the weights' normalisation (load_split would reset it to the dataset's)."""
    task = loaded.task
    mean, std, classes = task.mean, task.std, task.classes
    data = task.load_split(split, limit)
    if mean:
        task.mean, task.std = mean, std
    if classes:
        task.classes = classes
    return data
