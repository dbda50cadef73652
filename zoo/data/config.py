"""`DataConfig`: which dataset a run reads and how its images meet the model (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from zoo.config import ZooConfig
from zoo.data.holdout import ValSize

Fit = Literal["auto", "pad", "resize"]


class DataConfig(ZooConfig):
    """The data section of a run config."""

    name: str = Field("mnist", description="Dataset: the name of a registered dataset (`zoo list --datasets`), or a directory path (an image folder).")
    root: Path | None = Field(None, description="Directory holding the data (the built-in datasets in torchvision's layout); default $ZOO_HOME/data. For an image folder named by its dataset name, the folder itself.")
    val_size: ValSize = Field(0, description="The 'val' split, held out of the training split by a seeded, class-stratified draw (zoo.data.holdout): N examples; 'auto' = 10% of it, at most 5,000 (a run's default when unset); 0 = none (a run then chooses on the test split).")
    download: bool = Field(True, description="Fetch the dataset when it is missing from `root`.")
    image_size: int | None = Field(None, ge=8, description="Size images are stored at in memory (folders only; None = the model's input size).")
    fit: Fit = Field("auto", description="How images meet the model's input size: pad (centre, zeros), resize (bilinear), auto = pad by at most 4 px a side (LeNet's 28 -> 32), else resize.")
    normalize: bool = Field(True, description="Subtract the training split's per-channel mean and divide by its std.")

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        from zoo.data.catalog import dataset_info

        dataset_info(value)  # raises DataError: "no dataset 'mnsit'; did you mean: mnist"
        return value
