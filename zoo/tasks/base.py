"""The surface every task implements (see `zoo.tasks`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from zoo.engine.config import RunConfig

Batch = dict[str, torch.Tensor]


class Stepper(Protocol):
    """Given by the engine to `train_step`: backward, clip and update one optimizer."""

    optimizers: dict[str, torch.optim.Optimizer]  # by module name (a GAN's unrolled D steps use D's directly)

    def step(self, loss: torch.Tensor, name: str = "model") -> None: ...


class Task:
    """Base of every task. Subclasses set `main_metric` and implement the methods that raise."""

    main_metric: ClassVar[str] = "loss"  # key of `evaluate`'s result that picks the best weights
    maximize: ClassVar[bool] = False
    sample_split: ClassVar[str | None] = None  # the split `sample` draws examples from (None: needs no data)
    scores_with_extractor: ClassVar[bool] = False  # evaluate() embeds samples: train.eval_extractor_weights applies
    epoch_progress: float = 0.0  # epochs completed so far, fractions included; set by the engine before every train_step

    def __init__(self, model: nn.Module, config: RunConfig, device: torch.device) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.data_config = config.data_config()
        if config.train.eval_extractor_weights is not None and not self.scores_with_extractor:
            from zoo.errors import ConfigError

            raise ConfigError(f"train.eval_extractor_weights does not apply to {type(self).__name__}: "
                              "only the GAN tasks score samples with an extractor")

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        """The split in memory as equally long tensors (on the CPU); `limit` keeps the first N."""
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        """One optimizer per entry; the engine wraps each in DDP when distributed."""
        return {"model": self.model}

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        """One optimisation step on `batch`; returns batch-mean metrics (0-d tensors), `loss` first."""
        raise NotImplementedError

    def evaluate(self, data: Batch) -> dict[str, float]:
        """Metrics of the model (in eval mode) on `data`, including `main_metric`."""
        raise NotImplementedError

    def sample(self, data: Batch | None, n: int, out: Path, seed: int = 0) -> Path:
        """Write a picture of what the model does to `out` (PNG); `data` is `sample_split` or None."""
        raise NotImplementedError

    def card(self) -> dict[str, Any]:
        """Model-card fields for `zoo.weights.save_pretrained` (data, preprocessing)."""
        return {"data": self.data_config.name}
