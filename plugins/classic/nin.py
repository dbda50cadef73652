"""Network in Network.

M. Lin, Q. Chen, S. Yan. "Network In Network." ICLR 2014 (arXiv:1312.4400, 2013).

The CIFAR-10 model: three mlpconv blocks (a k×k conv then two 1×1 convs, each with ReLU — a
small MLP slid over the image), 3×3/2 pooling and dropout 0.5 between blocks, and global
average pooling of the last block's one-map-per-class output instead of fully connected
layers. Layer widths (192-160-96, 192-192-192, 192-192-classes) and the pooling types follow
the authors' released CIFAR-10 Caffe definition; 966,986 parameters at 10 classes.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from zoo.config import ImageClassifierConfig
from zoo.layers import activation_layer, init_weights

# (k×k conv kernel, [conv, 1×1, 1×1] widths); the last 1×1 of block 3 has num_classes maps.
BLOCKS = ((5, (192, 160, 96)), (5, (192, 192, 192)), (3, (192, 192, None)))


class NiNConfig(ImageClassifierConfig):
    in_chans: int = Field(3, ge=1, description="Input image channels (1 grey, 3 RGB).")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout after mlpconv blocks 1 and 2 (paper: 0.5).")
    width: float = Field(1.0, gt=0.0, le=4.0, description="Multiplier on the hidden channels (1.0 = paper).")

    def data_defaults(self) -> dict[str, Any]:
        """Section 4.2's CIFAR-10 augmentation, "translation and horizontal flipping" (10.41% test error
        without, 8.81% with): flip-crop, the standard form of it (pad 4, random 32 crop, mirror half)."""
        return {"augment": "flip-crop"}


class NiN(nn.Module):
    def __init__(self, config: NiNConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        blocks, channels = [], c.in_chans
        for kernel, widths in BLOCKS:
            widths = [max(1, round(w * c.width)) if w else c.num_classes for w in widths]
            blocks.append(_mlpconv(channels, widths, kernel, c.activation))
            channels = widths[-1]
        # Released definition: max-pool after block 1, average-pool after block 2 (both 3×3/2,
        # rounded up as Caffe does): 32 → 16 → 8.
        self.features = nn.Sequential(
            blocks[0],                               # N x 96 x 32 x 32
            nn.MaxPool2d(3, 2, ceil_mode=True),      # N x 96 x 16 x 16
            nn.Dropout(c.dropout),
            blocks[1],                               # N x 192 x 16 x 16
            nn.AvgPool2d(3, 2, ceil_mode=True),      # N x 192 x 8 x 8
            nn.Dropout(c.dropout),
            blocks[2],                               # N x num_classes x 8 x 8
        )
        self.pool = nn.AdaptiveAvgPool2d(1)          # global average: N x num_classes x 1 x 1
        _init(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


def _mlpconv(in_chans: int, widths: list[int], kernel: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, out in enumerate(widths):
        k = kernel if i == 0 else 1
        layers += [nn.Conv2d(in_chans, out, k, padding=k // 2), activation_layer(activation)]
        in_chans = out
    return nn.Sequential(*layers)


def _init(model: NiN, c: NiNConfig) -> None:
    if c.init != "paper":
        init_weights(model.modules(), c.init, c.activation)
        return
    # The released definition draws every weight from a Gaussian with std 0.05, biases 0.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.05)
            nn.init.zeros_(m.bias)
