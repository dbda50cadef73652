"""AlexNet.

A. Krizhevsky, I. Sutskever, G. E. Hinton. "ImageNet Classification with Deep Convolutional
Neural Networks." NIPS 2012.

Variant `paper` (`alexnet`): 96-256-384-384-256 convs, ReLU, local response normalisation
after conv1 and conv2 (k=2, n=5, α=1e-4, β=0.75), overlapping 3×3/2 max-pooling, dropout 0.5 on
the two 4096-unit layers, and `groups=2` for the published two-GPU split (conv2, conv4, conv5
see only their own GPU's maps). Variant `torchvision` (`alexnet_torchvision`): torchvision's
single-GPU model (64-192-384-256-256, no LRN), 61,100,840 parameters at 224 and 1000 classes,
whose state dict loads one to one.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ImageClassifierConfig
from zoo.layers import activation_layer, init_weights, krizhevsky_lrn

from zoo_plugins.classic.geometry import chain, field_defaults, resolve_auto

VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {"channels": (96, 256, 384, 384, 256), "lrn": True},
    "torchvision": {"channels": (64, 192, 384, 256, 256), "lrn": False},
}


class AlexNetConfig(ImageClassifierConfig):
    image_size: int = Field(224, ge=8, description="Input height and width in pixels (paper: 224).")
    in_chans: int = Field(3, ge=1, description="Input image channels (1 grey, 3 RGB).")
    num_classes: int = Field(1000, ge=1, description="Number of output classes.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout before fc6 and fc7 (paper: 0.5).")
    variant: Literal["paper", "torchvision"] = Field(
        "paper", description="'paper': 96-256-384-384-256 convs with LRN; 'torchvision': 64-192-384-256-256, no LRN.")
    groups: Literal[1, 2] = Field(
        1, description="2: the paper's two-GPU split (conv2, conv4, conv5 grouped); 1: one tower.")
    width: float = Field(1.0, gt=0.0, le=4.0, description="Multiplier on every conv's channels (1.0 = paper).")
    hidden: int = Field(4096, ge=1, description="Units in the two hidden fully connected layers (paper: 4096).")
    stem_stride: int | Literal["auto"] = Field(
        "auto", ge=1, description="Stride of the 11×11 conv1. 'auto': the paper's 4 when the input leaves a feature "
                                  "map after the three 3×3/2 pools (≥ 63 px), else 1 (28 and 32 px).")
    head_grid: int | Literal["auto"] = Field(
        "auto", ge=1, description="Side of the grid the last feature map is average-pooled to before fc6. "
                                  "'auto': the map's own side, at most 6 (6 at 224, as in the paper).")

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto(cls, data: Any) -> Any:
        return resolve_auto(data, field_defaults(cls), {"stem_stride": _auto_stride, "head_grid": _auto_grid})

    @model_validator(mode="after")
    def _fits(self) -> AlexNetConfig:
        if isinstance(self.stem_stride, int) and feature_side(self.image_size, self.stem_stride) < 1:
            raise ValueError(f"image_size={self.image_size} with stem_stride={self.stem_stride} leaves no feature map "
                             f"after the three pools; " + ("use a larger image_size" if self.stem_stride == 1 else "use stem_stride=1 (or auto)"))
        if self.groups == 2 and self.variant == "paper" and any(round(ch * self.width) % 2 for ch in VARIANTS["paper"]["channels"]):
            raise ValueError(f"groups=2 needs an even channel count in every conv; width={self.width} gives odd ones")
        if self.groups == 2 and self.variant == "torchvision":
            raise ValueError("groups=2 is the paper's split; the torchvision variant has one tower (use groups=1)")
        return self

    def data_defaults(self) -> dict[str, Any]:
        """Section 4.1's augmentation: random 224 crops of 256-px images, horizontal flips and PCA colour
        noise. timm's imagenet pipeline stands in for it: random resized crops (scale and aspect jitter, as
        GoogLeNet later did), flips, and colour jitter in place of the PCA lighting."""
        return {"augment": "imagenet"}


def feature_side(image_size: int, stem_stride: int) -> int:
    # conv1 (55 at 224), pool1 (27), pool2 (13), pool5 (6); conv2-5 keep the size
    return chain(image_size, (11, stem_stride, 2, False), (3, 2, 0, False), (3, 2, 0, False), (3, 2, 0, False))


def _auto_stride(values: dict[str, Any]) -> int:
    return 4 if feature_side(int(values["image_size"]), 4) >= 1 else 1


def _auto_grid(values: dict[str, Any]) -> int:
    stride = values["stem_stride"] if isinstance(values.get("stem_stride"), int) else _auto_stride(values)
    return max(1, min(6, feature_side(int(values["image_size"]), stride)))


class AlexNet(nn.Module):
    def __init__(self, config: AlexNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        ch = [max(1, round(n * c.width)) for n in VARIANTS[c.variant]["channels"]]
        self.features = _make_features(c, ch)
        self.avgpool = nn.AdaptiveAvgPool2d(c.head_grid)  # N x 256 x 6 x 6 at 224
        # torchvision's order (dropout before fc6 and fc7) = the paper's dropout on the outputs
        # of the two 4096-unit layers, shifted by one linear layer; kept so state dicts match.
        self.classifier = nn.Sequential(
            nn.Dropout(c.dropout),
            nn.Linear(ch[4] * c.head_grid**2, c.hidden),    # fc6: N x 4096
            activation_layer(c.activation),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.hidden),                  # fc7: N x 4096
            activation_layer(c.activation),
            nn.Linear(c.hidden, c.num_classes),             # fc8: N x num_classes
        )
        _init(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _make_features(c: AlexNetConfig, ch: list[int]) -> nn.Sequential:
    lrn = VARIANTS[c.variant]["lrn"]
    g = c.groups

    def norm() -> list[nn.Module]:
        return [krizhevsky_lrn()] if lrn else []

    return nn.Sequential(
        nn.Conv2d(c.in_chans, ch[0], 11, stride=int(c.stem_stride), padding=2),  # conv1: N x 96 x 55 x 55
        activation_layer(c.activation), *norm(),
        nn.MaxPool2d(3, 2),                                                      # pool1: N x 96 x 27 x 27
        nn.Conv2d(ch[0], ch[1], 5, padding=2, groups=g),                         # conv2: N x 256 x 27 x 27
        activation_layer(c.activation), *norm(),
        nn.MaxPool2d(3, 2),                                                      # pool2: N x 256 x 13 x 13
        nn.Conv2d(ch[1], ch[2], 3, padding=1),                                   # conv3: N x 384 x 13 x 13
        activation_layer(c.activation),
        nn.Conv2d(ch[2], ch[3], 3, padding=1, groups=g),                         # conv4: N x 384 x 13 x 13
        activation_layer(c.activation),
        nn.Conv2d(ch[3], ch[4], 3, padding=1, groups=g),                         # conv5: N x 256 x 13 x 13
        activation_layer(c.activation),
        nn.MaxPool2d(3, 2),                                                      # pool5: N x 256 x 6 x 6
    )


def _init(model: AlexNet, c: AlexNetConfig) -> None:
    if c.init != "paper":
        init_weights(model.modules(), c.init, c.activation)
    elif c.variant == "paper":
        _paper_init(model)
    # The torchvision variant keeps PyTorch's default init, as torchvision does.


def _paper_init(model: AlexNet) -> None:
    """Section 5: weights N(0, 0.01²); biases 1 in conv2, conv4, conv5 and the hidden FC layers
    (to give ReLUs positive inputs early on), 0 elsewhere."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ones = {1, 3, 4, 5, 6}  # conv2, conv4, conv5, fc6, fc7 by position
    for i, m in enumerate(layers):
        nn.init.normal_(m.weight, 0.0, 0.01)
        nn.init.constant_(m.bias, 1.0 if i in ones else 0.0)
