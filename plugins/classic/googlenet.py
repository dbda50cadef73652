"""GoogLeNet (Inception v1).

C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke,
A. Rabinovich. "Going Deeper with Convolutions." CVPR 2015 (arXiv:1409.4842, 2014).

Variant `paper` (`googlenet`): Table 1 as published — 7×7/2 stem, LRN after the first pool
and after conv2, nine inception modules with 1×1, 3×3 and 5×5 branches and pool projections,
dropout 0.4 and a linear classifier, plus two auxiliary classifiers on inception 4a and 4d
(5×5/3 average pool, 1×1 conv 128, FC 1024, dropout 0.7) whose losses are added with weight
0.3 in training; at eval the model returns the main logits only. Variant `torchvision`
(`googlenet_torchvision`): batch norm after every conv, a 3×3 conv in the "5×5" branch, no LRN
and a 2×2 last pool; 6,624,904 parameters without aux heads, state dicts load one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ImageClassifierConfig
from zoo.layers import activation_layer, init_weights

from zoo_plugins.classic.geometry import chain, field_defaults, resolve_auto

# Table 1: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

VARIANTS: dict[str, dict[str, Any]] = {
    # batch_norm, kernel of the "5×5" branch, LRN in the stem, last max-pool kernel
    "paper": {"batch_norm": False, "k5": 5, "lrn": True, "pool4": 3},
    # torchvision's 3×3 "5×5" branch is a known slip kept for its pretrained weights.
    "torchvision": {"batch_norm": True, "k5": 3, "lrn": False, "pool4": 2},
}


class GoogLeNetConfig(ImageClassifierConfig):
    image_size: int = Field(224, ge=8, description="Input height and width in pixels (paper: 224).")
    in_chans: int = Field(3, ge=1, description="Input image channels (1 grey, 3 RGB).")
    num_classes: int = Field(1000, ge=1, description="Number of output classes.")
    dropout: float = Field(0.4, ge=0.0, lt=1.0, description="Dropout before the classifier (paper: 0.4; torchvision: 0.2).")
    variant: Literal["paper", "torchvision"] = Field(
        "paper", description="'paper': Table 1 with LRN and 5×5 branches; 'torchvision': batch norm, 3×3 '5×5' branch.")
    width: float = Field(1.0, gt=0.0, le=4.0, description="Multiplier on every conv's channels (1.0 = paper).")
    aux_logits: bool = Field(True, description="Build the two auxiliary classifiers (used in training only).")
    aux_weight: float = Field(0.3, ge=0.0, description="Weight of each auxiliary loss in the training loss (paper: 0.3).")
    aux_dropout: float = Field(0.7, ge=0.0, lt=1.0, description="Dropout in the auxiliary classifiers (paper: 0.7).")
    stem_stride: int | Literal["auto"] = Field(
        "auto", ge=1, description="Stride of the 7×7 conv1. 'auto': the paper's 2 when a feature map survives "
                                  "all five stride-2 stages (≥ 31 px), else 1 (e.g. 28 px).")
    aux_pool: Literal["window", "adaptive", "auto"] = Field(
        "auto", description="Auxiliary heads' pooling to 4×4: 'window' is the paper's 5×5/3 average pool, "
                            "'adaptive' torchvision's adaptive pool. 'auto': window for the paper variant when "
                            "the 14×14 (at 224) map is at least 5 wide, else adaptive (28 and 32 px).")

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto(cls, data: Any) -> Any:
        return resolve_auto(data, field_defaults(cls), {"stem_stride": _auto_stride, "aux_pool": _auto_aux_pool})

    @model_validator(mode="after")
    def _fits(self) -> GoogLeNetConfig:
        if isinstance(self.stem_stride, int) and feature_side(self.image_size, self.stem_stride, self.variant) < 1:
            raise ValueError(f"image_size={self.image_size} with stem_stride={self.stem_stride} leaves no feature map "
                             f"before the classifier; " + ("use a larger image_size" if self.stem_stride == 1 else "use stem_stride=1 (or auto)"))
        stride = int(self.stem_stride)
        if self.aux_logits and self.aux_pool == "window" and not _window_fits(self.image_size, stride):
            raise ValueError(f"image_size={self.image_size} gives a {aux_side(self.image_size, stride)}-wide map at "
                             f"the auxiliary heads, which the 5×5/3 pool does not bring to 4×4; "
                             f"use aux_pool=adaptive (or auto)")
        return self

    def data_defaults(self) -> dict[str, Any]:
        """Section 6's augmentation: patches of 8% to 100% of the image area with aspect ratios 3/4 to 4/3
        (the random resized crop timm's imagenet pipeline is built on), flips and photometric distortions
        (timm's colour jitter)."""
        return {"augment": "imagenet"}


def aux_side(image_size: int, stem_stride: int) -> int:
    """Side of inception 4a's output (14 at 224): conv1, then three 3×3/2 ceil-mode pools."""
    return chain(image_size, (7, stem_stride, 3, False), (3, 2, 0, True), (3, 2, 0, True), (3, 2, 0, True))


def feature_side(image_size: int, stem_stride: int, variant: str) -> int:
    """Side of inception 5b's output (7 at 224)."""
    return chain(aux_side(image_size, stem_stride), (VARIANTS[variant]["pool4"], 2, 0, True))


def _window_fits(image_size: int, stem_stride: int) -> bool:
    """Whether the paper's 5×5/3 pool turns the aux heads' input into the 4×4 their FC expects."""
    return chain(aux_side(image_size, stem_stride), (5, 3, 0, False)) == 4


def _auto_stride(values: dict[str, Any]) -> int:
    return 2 if feature_side(int(values["image_size"]), 2, values.get("variant", "paper")) >= 1 else 1


def _auto_aux_pool(values: dict[str, Any]) -> str:
    paper = values.get("variant", "paper") == "paper"
    stride = values["stem_stride"] if isinstance(values.get("stem_stride"), int) else _auto_stride(values)
    return "window" if paper and _window_fits(int(values["image_size"]), stride) else "adaptive"


@dataclass
class GoogLeNetOutput:
    """Training-mode output when the auxiliary heads are on: main and auxiliary logits."""

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


class ConvBlock(nn.Module):
    """conv → (batch norm) → activation. With batch norm the conv has no bias (torchvision's BasicConv2d)."""

    def __init__(self, in_chans: int, out_chans: int, kernel: int, activation: str, batch_norm: bool,
                 stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, kernel, stride, kernel // 2, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_chans, eps=0.001) if batch_norm else nn.Identity()
        self.act = activation_layer(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches concatenated on channels: 1×1 | 1×1→3×3 | 1×1→5×5 | 3×3/1 max-pool→1×1."""

    def __init__(self, in_chans: int, widths: tuple[int, ...], k5: int, activation: str, batch_norm: bool) -> None:
        super().__init__()
        n1, r3, n3, r5, n5, proj = widths

        def block(i: int, o: int, k: int) -> ConvBlock:
            return ConvBlock(i, o, k, activation, batch_norm)

        self.branch1 = block(in_chans, n1, 1)
        self.branch2 = nn.Sequential(block(in_chans, r3, 1), block(r3, n3, 3))
        self.branch3 = nn.Sequential(block(in_chans, r5, 1), block(r5, n5, k5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), block(in_chans, proj, 1))
        self.out_chans = n1 + n3 + n5 + proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class AuxHead(nn.Module):
    """Auxiliary classifier: pool to 4×4 → 1×1 conv 128 → FC 1024 → dropout → FC classes."""

    def __init__(self, in_chans: int, c: GoogLeNetConfig, batch_norm: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, 3) if c.aux_pool == "window" else nn.AdaptiveAvgPool2d(4)
        self.conv = ConvBlock(in_chans, _w(128, c), 1, c.activation, batch_norm)
        self.fc1 = nn.Linear(_w(128, c) * 16, _w(1024, c))
        self.act = activation_layer(c.activation)
        self.dropout = nn.Dropout(c.aux_dropout)
        self.fc2 = nn.Linear(_w(1024, c), c.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))                                        # N x 128 x 4 x 4
        return self.fc2(self.dropout(self.act(self.fc1(torch.flatten(x, 1)))))  # N x num_classes


def _w(channels: int, c: GoogLeNetConfig) -> int:
    return max(1, round(channels * c.width))


class GoogLeNet(nn.Module):
    def __init__(self, config: GoogLeNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        v = VARIANTS[c.variant]
        bn, act = v["batch_norm"], c.activation
        # Module names follow torchvision's GoogLeNet so its state dict converts one to one.
        self.conv1 = ConvBlock(c.in_chans, _w(64, c), 7, act, bn, stride=int(c.stem_stride))  # N x 64 x 112 x 112
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)                  # N x 64 x 56 x 56
        # The paper gives no LRN constants; these are the BVLC Caffe reproduction's (n=5, α=1e-4,
        # β=0.75, k=1). Caffe and torch both divide α by n, so they carry over unchanged.
        self.norm1 = nn.LocalResponseNorm(5, 1e-4, 0.75) if v["lrn"] else nn.Identity()
        self.conv2 = ConvBlock(_w(64, c), _w(64, c), 1, act, bn)              # N x 64 x 56 x 56
        self.conv3 = ConvBlock(_w(64, c), _w(192, c), 3, act, bn)             # N x 192 x 56 x 56
        self.norm2 = nn.LocalResponseNorm(5, 1e-4, 0.75) if v["lrn"] else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)                  # N x 192 x 28 x 28
        chans = _w(192, c)
        for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
            module = Inception(chans, tuple(_w(n, c) for n in INCEPTION[name]), v["k5"], act, bn)
            setattr(self, f"inception{name}", module)
            chans = module.out_chans
            if name == "4a":
                self.aux1 = AuxHead(chans, c, bn) if c.aux_logits else None
            if name == "4d":
                self.aux2 = AuxHead(chans, c, bn) if c.aux_logits else None
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)                  # N x 480 x 14 x 14
        self.maxpool4 = nn.MaxPool2d(v["pool4"], 2, ceil_mode=True)         # N x 832 x 7 x 7
        # The paper's 7×7/1 average pool is global at 224; adaptive keeps it global at any size.
        self.avgpool = nn.AdaptiveAvgPool2d(1)                             # N x 1024 x 1 x 1
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(chans, c.num_classes)                          # N x num_classes
        _init(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutput:
        """Logits; in training mode with aux heads, a GoogLeNetOutput (use `loss` on it)."""
        x = self.maxpool2(self.norm2(self.conv3(self.conv2(self.norm1(self.maxpool1(self.conv1(x)))))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))           # N x 480 x 14 x 14
        x = self.inception4a(x)                                            # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))        # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))                             # N x 832 x 7 x 7
        x = self.inception5b(self.inception5a(x))                          # N x 1024 x 7 x 7
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux1 is None or aux2 is None:
            return logits
        return GoogLeNetOutput(logits, aux1, aux2)

    def loss(self, output: torch.Tensor | GoogLeNetOutput, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the main logits plus `aux_weight` × each auxiliary head's (section 5)."""
        ce = nn.functional.cross_entropy
        if isinstance(output, torch.Tensor):
            return ce(output, target)
        aux = ce(output.aux1, target) + ce(output.aux2, target)
        return ce(output.logits, target) + self.config.aux_weight * aux


def _init(model: GoogLeNet, c: GoogLeNetConfig) -> None:
    if c.init != "paper":
        init_weights(model.modules(), c.init, c.activation)
    elif c.variant == "paper":
        # The paper gives no init (DistBelief); this is the BVLC Caffe reproduction's:
        # Xavier weights, biases 0.2.
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.2)
    else:
        # torchvision's: truncated normal, std 0.01; batch norm (1, 0).
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.01, a=-2, b=2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
