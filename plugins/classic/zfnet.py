"""ZFNet.

M. D. Zeiler, R. Fergus. "Visualizing and Understanding Convolutional Networks." ECCV 2014
(arXiv:1311.2901, 2013).

Fig. 3's network: AlexNet with a 7×7/2 first layer (instead of 11×11/4) and a 5×5/2 second
layer, each followed by ReLU, 3×3/2 max-pooling and contrast normalisation across feature
maps; then 384-384-256 3×3 convs, 3×3/2 pooling, two 4096-unit layers with dropout 0.5. At
224×224: 110 → 55 → 26 → 13 → 13 → 13 → 6, as in the figure.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ImageClassifierConfig
from zoo.layers import activation_layer, init_weights, krizhevsky_lrn

from zoo_plugins.classic.geometry import chain, field_defaults, resolve_auto

CHANNELS = (96, 256, 384, 384, 256)


class ZFNetConfig(ImageClassifierConfig):
    image_size: int = Field(224, ge=8, description="Input height and width in pixels (paper: 224).")
    in_chans: int = Field(3, ge=1, description="Input image channels (1 grey, 3 RGB).")
    num_classes: int = Field(1000, ge=1, description="Number of output classes.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout before fc6 and fc7 (paper: 0.5).")
    width: float = Field(1.0, gt=0.0, le=4.0, description="Multiplier on every conv's channels (1.0 = paper).")
    hidden: int = Field(4096, ge=1, description="Units in the two hidden fully connected layers (paper: 4096).")
    stride: int | Literal["auto"] = Field(
        "auto", ge=1, description="Stride of layers 1 and 2. 'auto': the paper's 2 when the input leaves a feature "
                                  "map after the three pools (≥ 47 px), else 1 (28 and 32 px).")
    head_grid: int | Literal["auto"] = Field(
        "auto", ge=1, description="Side of the grid the last feature map is average-pooled to before fc6. "
                                  "'auto': the map's own side, at most 6 (6 at 224, as in the paper).")

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto(cls, data: Any) -> Any:
        return resolve_auto(data, field_defaults(cls), {"stride": _auto_stride, "head_grid": _auto_grid})

    @model_validator(mode="after")
    def _fits(self) -> ZFNetConfig:
        if isinstance(self.stride, int) and feature_side(self.image_size, self.stride) < 1:
            raise ValueError(f"image_size={self.image_size} with stride={self.stride} leaves no feature map "
                             f"after the three pools; " + ("use a larger image_size" if self.stride == 1 else "use stride=1 (or auto)"))
        return self

    def data_defaults(self) -> dict[str, Any]:
        """Section 3's augmentation, AlexNet's: 224 crops (corners and centre) of 256-px images and their
        mirrors; timm's imagenet pipeline (random resized crops, flips, colour jitter) stands in for it."""
        return {"augment": "imagenet"}


def feature_side(image_size: int, stride: int) -> int:
    # layer 1 (110 at 224), pool (55), layer 2 (26), pool (13), layers 3-5 keep 13, pool (6)
    return chain(image_size, (7, stride, 1, False), (3, 2, 0, True), (5, stride, 0, False),
                 (3, 2, 0, True), (3, 2, 0, True))


def _auto_stride(values: dict[str, Any]) -> int:
    return 2 if feature_side(int(values["image_size"]), 2) >= 1 else 1


def _auto_grid(values: dict[str, Any]) -> int:
    stride = values["stride"] if isinstance(values.get("stride"), int) else _auto_stride(values)
    return max(1, min(6, feature_side(int(values["image_size"]), stride)))


class ZFNet(nn.Module):
    def __init__(self, config: ZFNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        ch = [max(1, round(n * c.width)) for n in CHANNELS]
        s = int(c.stride)
        # Pools round up (Caffe's convention), which gives the figure's 55 and 13.
        # Contrast normalisation: Krizhevsky's LRN across feature maps, the normalisation ZF
        # adopted from AlexNet (the paper gives no constants of its own).
        self.features = nn.Sequential(
            nn.Conv2d(c.in_chans, ch[0], 7, stride=s, padding=1),  # layer 1: N x 96 x 110 x 110
            activation_layer(c.activation),
            nn.MaxPool2d(3, 2, ceil_mode=True),                    # N x 96 x 55 x 55
            krizhevsky_lrn(),
            nn.Conv2d(ch[0], ch[1], 5, stride=s),                  # layer 2: N x 256 x 26 x 26
            activation_layer(c.activation),
            nn.MaxPool2d(3, 2, ceil_mode=True),                    # N x 256 x 13 x 13
            krizhevsky_lrn(),
            nn.Conv2d(ch[1], ch[2], 3, padding=1),                 # layer 3: N x 384 x 13 x 13
            activation_layer(c.activation),
            nn.Conv2d(ch[2], ch[3], 3, padding=1),                 # layer 4: N x 384 x 13 x 13
            activation_layer(c.activation),
            nn.Conv2d(ch[3], ch[4], 3, padding=1),                 # layer 5: N x 256 x 13 x 13
            activation_layer(c.activation),
            nn.MaxPool2d(3, 2, ceil_mode=True),                    # N x 256 x 6 x 6
        )
        self.avgpool = nn.AdaptiveAvgPool2d(c.head_grid)
        self.classifier = nn.Sequential(
            nn.Dropout(c.dropout),
            nn.Linear(ch[4] * c.head_grid**2, c.hidden),           # layer 6: N x 4096
            activation_layer(c.activation),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.hidden),                         # layer 7: N x 4096
            activation_layer(c.activation),
            nn.Linear(c.hidden, c.num_classes),                    # output: N x num_classes
        )
        _init(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _init(model: ZFNet, c: ZFNetConfig) -> None:
    if c.init != "paper":
        init_weights(model.modules(), c.init, c.activation)
        return
    # Section 3: "Weights are initialized to 10^-2 and biases are set to 0" (read as N(0, 0.01²)).
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
