"""LeNet-5.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. "Gradient-based learning applied to document
recognition." Proc. IEEE, 1998.

Variant `modern`: the paper's layout (C1 6@5×5, S2, C3 16@5×5, S4, C5 120, F6 84) with
ReLU, max-pooling, a full C3 and a linear output layer; 61,706 parameters at 32×32, 10 classes.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from zoo.config import ImageClassifierConfig


class LeNet5Config(ImageClassifierConfig):
    variant: Literal["modern"] = Field("modern", description="'modern': ReLU, max-pool, full C3, linear output.")


class LeNet5(nn.Module):
    def __init__(self, config: LeNet5Config) -> None:
        super().__init__()
        self.config = config
        c = config
        # 28×28 inputs get padding 2 on C1, as the paper pads MNIST's 28×28 digits to 32×32.
        pad = 2 if c.image_size < 32 else 0
        self.features = nn.Sequential(
            nn.Conv2d(c.in_chans, 6, 5, padding=pad),  # C1: N x 6 x 28 x 28
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                           # S2: N x 6 x 14 x 14
            nn.Conv2d(6, 16, 5),                       # C3: N x 16 x 10 x 10
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                           # S4: N x 16 x 5 x 5
        )
        side = ((c.image_size + 2 * pad - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),          # C5: N x 120
            nn.ReLU(inplace=True),
            nn.Dropout(c.dropout),
            nn.Linear(120, 84),                        # F6: N x 84
            nn.ReLU(inplace=True),
            nn.Linear(84, c.num_classes),              # output: N x num_classes
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
