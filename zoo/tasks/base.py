"""The surface every task implements (see `zoo.tasks`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from zoo.engine.config import RunConfig

from zoo.tasks.options import EvalOptions, SampleOptions

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
    SampleOptions: ClassVar[type[SampleOptions]] = SampleOptions  # what `zoo sample` / `zoo.sample` take
    EvalOptions: ClassVar[type[EvalOptions]] = EvalOptions  # what `zoo eval` / `zoo.evaluate` take

    def __init__(self, model: nn.Module, config: RunConfig, device: torch.device) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.data_config = config.data
        if config.train.eval_extractor_weights is not None and not self.scores_with_extractor:
            from zoo.errors import ConfigError

            raise ConfigError(f"train.eval_extractor_weights does not apply to {type(self).__name__}: "
                              "only the GAN tasks score samples with an extractor")

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        """The split in memory as equally long tensors (on the CPU); `limit` keeps the first N."""
        raise NotImplementedError

    def load_held_split(self, split: str, limit: int | None = None) -> Batch:
        """The split for trained weights (`zoo sample`, `zoo eval`): loaded as `load_split` does, keeping the
        normalisation and class names the weights came with (`load_split` resets them to the dataset's)."""
        kept = {k: getattr(self, k) for k in ("mean", "std", "classes") if getattr(self, k, None)}
        data = self.load_split(split, limit)
        for key, value in kept.items():
            setattr(self, key, value)
        return data

    def modules(self) -> dict[str, nn.Module]:
        """One optimizer per entry; the engine wraps each in DDP when distributed."""
        return {"model": self.model}

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        """One optimisation step on `batch`; returns batch-mean metrics (0-d tensors), `loss` first."""
        raise NotImplementedError

    def evaluate(self, data: Batch) -> dict[str, float]:
        """Metrics of the model (in eval mode) on `data`, including `main_metric`."""
        raise NotImplementedError

    def sample(self, data: Batch | None, options: SampleOptions) -> Path:
        """Write a picture of what the model does to `options.out` (PNG); `data` is `sample_split` or None."""
        raise NotImplementedError

    def generate(self, options: SampleOptions, condition: Any = None) -> torch.Tensor:
        """`options.n` images in the data's value range (`zoo.sample`): the model's `sample` with a generator seeded
        by `options.seed`. Generative tasks whose options steer drawing (truncation, steps) pass them on."""
        sample = getattr(self.model, "sample", None)
        if not callable(sample):
            from zoo.errors import ZooError

            raise ZooError(f"{self.model.zoo_name} draws no images (its task makes pictures of what it does: zoo sample)")
        with torch.no_grad():
            return sample(options.n, generator=torch.Generator().manual_seed(options.seed), condition=condition)

    def report(self, options: EvalOptions, progress: Any = None) -> dict[str, Any]:
        """What `zoo eval` prints (and `zoo.evaluate` returns): the task's measures of the trained model.

        `progress`, when given, is told each stage (`progress.stage(name, total)`, `progress.advance(k)`).
        """
        from zoo.errors import ZooError

        raise ZooError(f"zoo eval does not support the task of {self.model.zoo_name} ({type(self).__name__})")

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        """`report`'s result for people: lines (str) or rich renderables, printed in order by `zoo eval`.

        Generator metrics (a doc from `sample_metrics`) show as the scores table and how they were made."""
        if "extractor" in doc:
            from zoo.metrics.report import scores_note, scores_table

            return [scores_table(doc), scores_note(self.model.zoo_name, doc)]
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in doc.items()
                          if not isinstance(v, (dict, list)))
        return [f"{self.model.zoo_name}: {shown}"]

    def sample_metrics(self, options: Any, progress: Any = None, default: str | None = None) -> dict[str, Any]:
        """Generator metrics (`zoo.metrics.evaluation.evaluate`) of the images `generate` draws, for a task whose
        `EvalOptions` subclass `GeneratorEvalOptions`; `default` is the metrics when the options name none."""
        from zoo.metrics.evaluation import METRICS, evaluate, parse_metrics

        metrics = parse_metrics(options.metrics or default or METRICS)
        reference = options.reference or f"{self.data_config.name}:test"
        result = evaluate(self.sampler(options), reference, metrics=metrics, extractor=options.extractor,
                          extractor_weights=options.extractor_weights, n=options.n or 10_000, seed=options.seed,
                          progress=progress)
        return result.to_dict()

    def sampler(self, options: Any) -> nn.Module:
        """What `sample_metrics` draws from: a module with `sample(n, generator=None, condition=None)`. The model
        itself, unless the task's options change how it draws (a sampler's step count): then a module
        that draws that way."""
        return self.model

    def card(self) -> dict[str, Any]:
        """Model-card fields for `zoo.weights.save_pretrained` (data, preprocessing)."""
        return {"data": self.data_config.name}
