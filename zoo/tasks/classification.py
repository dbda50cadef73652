"""Classification: cross-entropy training, accuracy / per-class accuracy / confusion matrix, labelled grids.

Images stay uint8 in memory, or stream from their files through a DataLoader when the data is
large (`zoo.data.streaming`; then `load_split` gives a `StreamedSplit`, which evaluation reads
in batches). Each batch is converted on its way into the model by `zoo.data.prepare_batch` (to
float, channels matched, normalised with the training split's statistics per model input
channel, padded or resized to the model's input), a few tensor ops per batch. With
`data.mixup` / `data.cutmix`, timm's `Mixup` mixes the float batch and its soft targets.

A split must have two classes or more; an image folder's images may not be under half the
model's input side (an enlargement past 2x invents what the model learns from).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from pydantic import Field

from zoo.data.streaming import StreamedSplit
from zoo.names import resolve
from zoo.surfaces import require
from zoo.surfaces.classifier import Classifier
from zoo.tasks.base import Batch, Stepper, Task
from zoo.tasks.options import EvalOptions, SampleOptions

EVAL_BATCH = 1000


class ClassifierSampleOptions(SampleOptions):
    """`zoo sample` of a classifier: `n` test images drawn with `seed`, titled with the model's guesses."""

    n: int = Field(64, ge=1, le=1024, description="Test images in the grid.")


class ClassifierEvalOptions(EvalOptions):
    """`zoo eval` of a classifier: accuracy, per-class accuracy and the confusion matrix of one split."""

    split: Literal["test", "val", "train"] = Field("test", description="Split to evaluate (val needs data.val_size).")
    out: Path | None = Field(None, description="Confusion-matrix PNG (default confusion-<model>-<data>.png).")


class ClassificationTask(Task):
    main_metric: ClassVar[str] = "accuracy"
    maximize: ClassVar[bool] = True
    sample_split: ClassVar[str | None] = "test"
    surface: ClassVar[type] = Classifier  # what the model must provide (zoo.surfaces.classifier)
    SampleOptions: ClassVar[type[SampleOptions]] = ClassifierSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = ClassifierEvalOptions
    mixes_labels: ClassVar[bool] = True  # data.mixup / data.cutmix apply

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        super().__init__(model, config, device)
        require(model, self.surface, resolve(config.model.name)[0].entry.task)
        self.in_chans, height, width = model.zoo_config.input_shape()
        self.input_size = (height, width)
        self.num_classes = model.zoo_config.num_classes
        self.channels_last = config.train.channels_last
        self.classes: list[str] = []
        self.mean: tuple[float, ...] = ()
        self.std: tuple[float, ...] = ()
        self.mixup = self._mixup()

    def load_split(self, split: str, limit: int | None = None) -> Batch | StreamedSplit:
        """The split in memory, or streamed when the data config says so or it is too large (the first
        `limit` examples); sets the classes and the statistics per model input channel."""
        from zoo.data import DataError, load_dataset
        from zoo.data.stats import model_stats
        from zoo.data.streaming import open_stream

        d, side = self.data_config, max(self.input_size)
        if self.streams():
            ds = open_stream(d, split, d.image_size or side, side)
            if limit is not None:
                ds = ds.subset(torch.arange(min(limit, len(ds))))
        else:
            ds = load_dataset(d, split)
            if ds.smallest is not None and 2 * min(ds.smallest[1:]) < side:
                from zoo.data.folder import too_small

                raise DataError(too_small(*ds.smallest, side))
        if len(ds.classes) < 2:
            raise DataError(f"{ds.name} has one class ({', '.join(ds.classes)}); a classifier needs two or more "
                            f"(for an image folder: one subfolder per class)")
        if len(ds.classes) > self.num_classes:
            raise DataError(f"{ds.name} has {len(ds.classes)} classes but the model has num_classes={self.num_classes}; "
                            f"set model.num_classes={len(ds.classes)}")
        self.classes = list(ds.classes)
        self.mean, self.std = model_stats(ds, self.in_chans, d)
        if isinstance(ds, StreamedSplit):
            return ds
        return {"images": ds.images[:limit], "labels": ds.labels[:limit]}

    def streams(self) -> bool:
        """Whether this run's data is read by the streaming path (zoo.data.streaming)."""
        from zoo.data.budget import streams
        from zoo.data.catalog import dataset_for

        d = self.data_config
        dataset = dataset_for(d.name, d)
        return streams(d, dataset, dataset.root_for(d), d.image_size)

    def _mixup(self) -> Any:
        """timm's Mixup for data.mixup / data.cutmix (label smoothing goes into its soft targets), or None."""
        d = self.data_config
        if not (d.mixup or d.cutmix):
            return None
        from timm.data import Mixup

        return Mixup(mixup_alpha=d.mixup, cutmix_alpha=d.cutmix, label_smoothing=self.config.train.label_smoothing,
                     num_classes=self.num_classes)

    def example_batch(self, n: int, generator: torch.Generator) -> Batch:
        """n random images of the model's input shape and labels of every class in turn, in `load_split`'s
        layout (for `zoo.testing`); normalised with their own statistics, as a split is with its own."""
        images = torch.randint(0, 256, (n, self.in_chans, *self.input_size), generator=generator, dtype=torch.uint8)
        pixels = images.transpose(0, 1).flatten(1).float() / 255
        self.classes = [str(i) for i in range(self.num_classes)]
        self.mean, self.std = tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist())
        return {"images": images, "labels": torch.arange(n) % self.num_classes}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """B x C x H x W uint8 (CPU) -> the model's normalised float input on the task's device."""
        from zoo.data import prepare_batch

        d = self.data_config
        x = prepare_batch(images.to(self.device, non_blocking=True), self.input_size, self.in_chans,
                          self.mean if d.normalize else None, self.std if d.normalize else None, fit=d.fit)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        y = batch["labels"].to(self.device, non_blocking=True)
        x, target = self.prepare(batch["images"]), y
        if self.mixup is not None:
            from zoo.data.augment import numpy_seeded

            # timm draws lambda and the cut box from numpy's global RNG: seeded from torch's, which every
            # checkpoint carries, so a resumed run mixes the same way
            with numpy_seeded(int(torch.randint(1 << 62, (1,)))):
                x, target = self.mixup(x, y)
        output = modules["model"](x)
        loss = self.loss(output, target)
        stepper.step(loss)
        logits = output if isinstance(output, torch.Tensor) else output.logits
        return {"loss": loss.detach(), "accuracy": (logits.detach().argmax(1) == y).float().mean()}

    def loss(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        """The model's own `loss(output, target)` if it has one (GoogLeNet's auxiliary heads), else cross-entropy."""
        own = getattr(self.model, "loss", None)
        if callable(own):
            return own(output, y)
        smoothing = 0.0 if y.is_floating_point() else self.config.train.label_smoothing  # mixup's targets carry it
        return F.cross_entropy(output, y, label_smoothing=smoothing)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for uint8 images, in batches (model in eval mode)."""
        chunks = [self.model(self.prepare(images[i:i + EVAL_BATCH])).float().cpu()
                  for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.num_classes)

    def outputs(self, data: Batch | StreamedSplit) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, labels) of every example of `data`; a streamed split is read in batches by its workers."""
        if not isinstance(data, StreamedSplit):
            return self.predict(data["images"]), data["labels"]
        logits, labels = [], []
        for batch in data.batches(EVAL_BATCH, pin_memory=self.device.type == "cuda"):
            logits.append(self.predict(batch["images"]))
            labels.append(batch["labels"])
        return torch.cat(logits), torch.cat(labels)

    def evaluate(self, data: Batch | StreamedSplit) -> dict[str, float]:
        logits, labels = self.outputs(data)
        loss = F.cross_entropy(logits, labels).item() if len(labels) else float("nan")
        return {"loss": loss, "accuracy": (logits.argmax(1) == labels).float().mean().item()}

    def confusion(self, data: Batch | StreamedSplit) -> torch.Tensor:
        """num_classes x num_classes counts: row = true class, column = predicted class."""
        logits, labels = self.outputs(data)
        k = self.num_classes
        return torch.bincount(labels * k + logits.argmax(1), minlength=k * k).reshape(k, k)

    def sample(self, data: Batch | StreamedSplit, options: ClassifierSampleOptions) -> Path:
        """A grid of `n` test images drawn with `seed`, each titled 'pred P (true T)'; mistakes in red."""
        streamed = isinstance(data, StreamedSplit)
        labels = data.labels if streamed else data["labels"]
        pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(options.seed))[:options.n]
        images, labels = (data.read(pick) if streamed else data["images"][pick]), labels[pick]
        probs = self.predict(images).softmax(1)
        return draw_grid(images, labels, probs, self.class_names(), options.out)

    def report(self, options: ClassifierEvalOptions, progress: Any = None) -> dict[str, Any]:
        """Accuracy, per-class accuracy and the confusion matrix of the first `n` examples of `split` (PNG too)."""
        from zoo.metrics.report import draw_confusion

        data = self.load_held_split(options.split, options.n)
        matrix = self.confusion(data)
        names = self.class_names()
        accuracy = float(matrix.diag().sum() / matrix.sum())
        per_class = [float(matrix[i, i] / row) if (row := matrix[i].sum()) else float("nan") for i in range(len(matrix))]
        name = self.data_config.name
        stem = Path(name).name or "data"  # an image folder's path: its last component
        target = options.out or Path(f"confusion-{self.model.zoo_name.split(':')[-1]}-{stem}.png")
        draw_confusion(matrix, names, target, f"{self.model.zoo_name} on {name} {options.split}: {accuracy:.2%}")
        return {"data": name, "split": options.split, "examples": int(matrix.sum()), "accuracy": accuracy,
                "per_class_accuracy": dict(zip(names, per_class)), "confusion_matrix": matrix.tolist(), "png": str(target)}

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        from zoo.metrics.report import confusion_table

        names = list(doc["per_class_accuracy"])
        return [confusion_table(doc["confusion_matrix"], names, list(doc["per_class_accuracy"].values())),
                f"{self.model.zoo_name} on {doc['data']} {doc['split']} ({doc['examples']:,} examples): "
                f"accuracy {doc['accuracy']:.2%}; confusion matrix PNG: {doc['png']}"]

    def class_names(self) -> list[str]:
        return self.classes or [str(i) for i in range(self.num_classes)]

    def card(self) -> dict[str, Any]:
        d = self.data_config
        pre = {"value_range": (0.0, 1.0), "class_names": tuple(self.class_names())}
        if d.normalize and self.mean:
            pre.update(mean=self.mean, std=self.std)
        return {"data": d.name, "preprocessing": pre}


def draw_grid(images: torch.Tensor, labels: torch.Tensor | None, probs: torch.Tensor, names: list[str], out: Path) -> Path:
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].permute(1, 2, 0).numpy()
        ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None)
        p, conf = int(probs[i].argmax()), float(probs[i].max())
        title = f"{names[p]} {conf:.0%}"
        wrong = labels is not None and int(labels[i]) != p
        if labels is not None:
            title += f"\n(true {names[int(labels[i])]})"
        ax.set_title(title, fontsize=8, color="red" if wrong else "black")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
