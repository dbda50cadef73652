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

The task of a model is its manifest's `task`; `task_class(name)` imports the class lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoo.errors import ZooError

TASK_CLASSES = {
    "classification": "zoo.tasks.classification:ClassificationTask",
    "adversarial": "zoo.tasks.adversarial:AdversarialTask",
    "autoencoding": "zoo.tasks.autoencoding:AutoencodingTask",
    "variational": "zoo.tasks.variational:VariationalTask",
    "text-to-image": "zoo.tasks.text_to_image:TextToImageTask",  # the adversarial task, conditioned on captions
}


def task_class(name: str) -> Any:
    ref = TASK_CLASSES.get(name)
    if ref is None:
        raise ZooError(f"training for task '{name}' is not available yet (available: {', '.join(TASK_CLASSES)})")
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
