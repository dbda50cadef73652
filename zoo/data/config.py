"""`DataConfig`: which dataset a run reads and how its images meet the model (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from zoo.config import ZooConfig
from zoo.data.holdout import ValSize

Fit = Literal["auto", "pad", "resize"]
Augment = Literal["none", "flip-crop", "imagenet"]


class DataConfig(ZooConfig):
    """The data section of a run config."""

    name: str = Field("mnist", description="Dataset: the name of a registered dataset (`zoo list --datasets`), or a directory path (an image folder).")
    root: Path | None = Field(None, description="Directory holding the data (the built-in datasets in torchvision's layout); default $ZOO_HOME/data. For an image folder named by its dataset name, the folder itself.")
    val_size: ValSize = Field(0, description="The 'val' split, held out of the training split by a seeded, class-stratified draw (zoo.data.holdout): N examples; 'auto' = 10% of it, at most 5,000 (a run's default when unset); 0 = none (a run then chooses on the test split).")
    download: bool = Field(True, description="Fetch the dataset when it is missing from `root`.")
    image_size: int | None = Field(None, ge=8, description="Side images are decoded to, shorter side resized then centre-cropped (folders only; None = the files' own size in memory, the model's input side when streaming).")
    fit: Fit = Field("auto", description="How images meet the model's input size: pad (centre, zeros), resize (bilinear), auto = pad by at most 4 px a side (LeNet's 28 -> 32), else resize.")
    normalize: bool = Field(True, description="Subtract the training split's per-channel mean and divide by its std.")
    augment: Augment = Field("none", description="Training augmentation: none; flip-crop (pad 4, random crop, horizontal flip: the CIFAR-10 standard, on whole batches); imagenet (timm's training pipeline per image: random resized crop, flip, colour jitter; evaluation resizes and centre-crops; read by the streaming path).")
    auto_augment: str | None = Field(None, description="augment=imagenet: timm's auto-augment policy, e.g. rand-m9-mstd0.5-inc1 (RandAugment) or original (AutoAugment); replaces the colour jitter.")
    pairing: Literal["auto", "paired", "unpaired"] = Field("auto", description="Two-domain datasets (image-to-image translation): paired (each domain-A image with its own B image), unpaired (B shuffled apart from A, seeded), auto = the model's own kind; a dataset that offers one view refuses the other.")
    mixup: float = Field(0.0, ge=0, allow_inf_nan=False, description="Classifiers: mixup alpha (timm's Mixup; 0 = off), soft targets with train.label_smoothing.")
    cutmix: float = Field(0.0, ge=0, allow_inf_nan=False, description="Classifiers: cutmix alpha (timm's Mixup; 0 = off); with mixup too, each batch picks one of the two.")
    stream: bool | None = Field(None, description="Read training images with a torch DataLoader and worker processes (true), or hold the split in memory (false); default: stream when the decoded split exceeds memory_budget or augment is imagenet.")
    memory_budget: float | None = Field(None, gt=0, allow_inf_nan=False, description="GiB of decoded images one process may hold in memory before the data streams (default: half the RAM available when the run starts, shared by the processes of a node).")
    workers: int | None = Field(None, ge=0, le=256, description="DataLoader worker processes per training process when streaming (0 = decode in the training process; default: the process's CPU cores less one, at most 8).")

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        from zoo.data.catalog import dataset_info

        dataset_info(value)  # raises DataError: "no dataset 'mnsit'; did you mean: mnist"
        return value

    @model_validator(mode="after")
    def _augment_options_agree(self) -> DataConfig:
        if self.auto_augment is not None and self.augment != "imagenet":
            raise ValueError(f"auto_augment={self.auto_augment} is an option of augment=imagenet, "
                             f"not augment={self.augment}")
        if self.augment == "imagenet" and self.stream is False:
            raise ValueError("augment=imagenet transforms each image as it is read: it needs the streaming path, "
                             "not stream=false")
        return self
