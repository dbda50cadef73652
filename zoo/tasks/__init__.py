"""Tasks: what it means to train, evaluate and sample one kind of model.

The engine (`zoo.engine`) owns everything that does not depend on the kind of model: device,
processes, data order, optimizers and schedules, logging, checkpoints, resume, early stop and
divergence. A task owns the rest, through the small surface of `zoo.tasks.base.Task`:

- `load_split(split)`: the split as a dict of equally long tensors (images, labels, ...); the
  engine batches it by slicing with a seeded permutation.
- `modules()`: the modules that get an optimizer each (`{"model": m}` for a classifier,
  `{"generator": g, "discriminator": d}` for a GAN); the engine builds one timm optimizer and
  scheduler per entry.
- `train_step(batch, modules, stepper)`: one step; calls `stepper.step(loss, name)` once per
  optimizer (a GAN alternates), returns batch-mean metrics.
- `evaluate(split_data)`: metrics dict; `main_metric` picks the best checkpoint and early stop.
- `sample(...)`: a picture of what the model does (a classifier: test images with its guesses).
- `epoch_pictures(run_dir, epoch, data)`, optional: pictures written after every evaluation
  (autoencoders and VAEs: a reconstruction grid and a sample grid from fixed noise).

A task is a registry contribution (manifest schema v3, `tasks:`), the built-in ones declared in
`registry.yaml` exactly as a plugin declares its own; `task_class(name)` imports the class
named by the entry. The options a task's `zoo sample` / `zoo eval` take are its `SampleOptions`
and `EvalOptions` (`zoo.tasks.options`).
"""

from __future__ import annotations

from typing import Any


def task_class(name: str) -> Any:
    """The class of the registered task `name` (one line naming the known tasks when there is none)."""
    from zoo.registry import load_contribution

    return load_contribution("tasks", name)
