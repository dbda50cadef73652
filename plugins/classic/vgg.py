"""VGG: all six configurations of Table 1.

K. Simonyan, A. Zisserman. "Very Deep Convolutional Networks for Large-Scale Image
Recognition." ICLR 2015 (arXiv:1409.1556).

A `vgg11`, A-LRN `vgg11_lrn`, B `vgg13`, C `vgg16_c` (a 1×1 conv closes blocks 3-5), D `vgg16`,
E `vgg19`; `batch_norm=True` gives the `_bn` variants (Ioffe & Szegedy's BN after every conv,
as in torchvision, not in the paper). At 224×224 and 1000 classes the parameter counts are
Table 2's: 133, 133, 133, 134, 138, 144 M (D: 138,357,544). Module layout follows
torchvision's (`features.N`, `classifier.{0,3,6}`), so its state dicts convert one to one.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ImageClassifierConfig
from zoo.layers import activation_layer, init_weights, krizhevsky_lrn

from zoo_plugins.classic.geometry import chain, field_defaults, resolve_auto

# Table 1, one column per configuration: ints are 3×3 convs (out channels), "1x1:N" a 1×1
# conv, "M" a 2×2/2 max-pool, "LRN" local response normalisation.
CONFIGS: dict[str, tuple[Any, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "A-LRN": (64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "C": (64, 64, "M", 128, 128, "M", 256, 256, "1x1:256", "M", 512, 512, "1x1:512", "M",
          512, 512, "1x1:512", "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"),
}


class VGGConfig(ImageClassifierConfig):
    image_size: int = Field(224, ge=8, description="Input height and width in pixels (paper: 224).")
    in_chans: int = Field(3, ge=1, description="Input image channels (1 grey, 3 RGB).")
    num_classes: int = Field(1000, ge=1, description="Number of output classes.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout on the two hidden FC layers (paper: 0.5).")
    configuration: Literal["A", "A-LRN", "B", "C", "D", "E"] = Field(
        "D", description="Column of Table 1: A (11 layers), A-LRN, B (13), C (16, with 1×1 convs), D (16), E (19).")
    batch_norm: bool = Field(False, description="Batch norm after every conv (torchvision's _bn models; not in the paper).")
    width: float = Field(1.0, gt=0.0, le=4.0, description="Multiplier on every conv's channels (1.0 = paper).")
    hidden: int = Field(4096, ge=1, description="Units in the two hidden fully connected layers (paper: 4096).")
    head_grid: int | Literal["auto"] = Field(
        "auto", ge=1, description="Side of the grid the last feature map is average-pooled to before fc6. "
                                  "'auto': the feature map's own side, at most 7 (7 at 224 as in the paper; "
                                  "1 at 32, so small inputs do not replicate one cell into 7×7 as torchvision does).")
    ceil_pool: bool | Literal["auto"] = Field(
        "auto", description="Round pooled sizes up. 'auto': only when five floor-mode 2×2 pools would not "
                            "leave a 1×1 map (e.g. 28×28: 28-14-7-4-2-1); identical to the paper at 224 and 32.")

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto(cls, data: Any) -> Any:
        return resolve_auto(data, field_defaults(cls), {"ceil_pool": _auto_ceil, "head_grid": _auto_grid})

    @model_validator(mode="after")
    def _fits(self) -> VGGConfig:
        if feature_side(self.image_size, bool(self.ceil_pool)) < 1:
            raise ValueError(f"image_size={self.image_size} with ceil_pool=False leaves no feature map after "
                             f"five 2×2 pools; use ceil_pool=true (or auto), or an image_size of at least 32")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """`zoo train`'s recipe for VGG: AdamW 1e-3, batch 128, 3 epochs.

        The engine's default peak lr (4e-3, tuned for LeNet-5) stalls a VGG without batch norm in
        its first steps; with this recipe vgg11 reached 99.46% MNIST test accuracy in 3 epochs.
        """
        return {"lr": 1e-3, "batch_size": 128, "epochs": 3}

    def data_defaults(self) -> dict[str, Any]:
        """Section 3.1's augmentation: random 224 crops of rescaled images (scale jittering), horizontal
        flips and random RGB colour shift; timm's imagenet pipeline (random resized crops, flips, colour
        jitter) stands in for it."""
        return {"augment": "imagenet"}


def feature_side(image_size: int, ceil_pool: bool) -> int:
    return chain(image_size, *[(2, 2, 0, ceil_pool)] * 5)


def _auto_ceil(values: dict[str, Any]) -> bool:
    return feature_side(int(values["image_size"]), False) < 1


def _auto_grid(values: dict[str, Any]) -> int:
    ceil = values["ceil_pool"] if isinstance(values.get("ceil_pool"), bool) else _auto_ceil(values)
    return max(1, min(7, feature_side(int(values["image_size"]), ceil)))


class VGG(nn.Module):
    def __init__(self, config: VGGConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.features, channels = _make_features(c)
        self.avgpool = nn.AdaptiveAvgPool2d(c.head_grid)     # N x 512 x 7 x 7 at 224
        self.classifier = nn.Sequential(
            nn.Linear(channels * c.head_grid**2, c.hidden),  # fc6: N x 4096
            activation_layer(c.activation),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.hidden),                   # fc7: N x 4096
            activation_layer(c.activation),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.num_classes),              # fc8: N x num_classes
        )
        _init(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _make_features(c: VGGConfig) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    channels = c.in_chans
    for item in CONFIGS[c.configuration]:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=bool(c.ceil_pool)))
        elif item == "LRN":
            layers.append(krizhevsky_lrn())  # A-LRN: "the same as Krizhevsky et al."
        else:
            kernel, out = (1, int(item.split(":")[1])) if isinstance(item, str) else (3, item)
            out = max(1, round(out * c.width))
            layers.append(nn.Conv2d(channels, out, kernel, padding=kernel // 2))
            if c.batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(activation_layer(c.activation))
            channels = out
    return nn.Sequential(*layers), channels


def _init(model: VGG, c: VGGConfig) -> None:
    if c.init == "paper":
        # Section 3.1: after submission the authors trained the deep nets from scratch with
        # Glorot & Bengio's init (gain 1, biases 0) instead of initialising them from net A.
        init_weights(model.modules(), "xavier_uniform", activation="linear")
    else:
        init_weights(model.modules(), c.init, c.activation)
