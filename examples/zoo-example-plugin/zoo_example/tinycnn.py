"""TinyCNN: conv-relu-pool twice, then a linear classifier. An example of a plugin model."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from zoo.config import ImageClassifierConfig


class TinyCNNConfig(ImageClassifierConfig):
    image_size: int = Field(28, ge=8, description="Input height and width in pixels.")
    width: int = Field(16, ge=1, le=512, description="Channels of the first conv layer (the second has twice).")


class TinyCNN(nn.Module):
    def __init__(self, config: TinyCNNConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.features = nn.Sequential(
            nn.Conv2d(config.in_chans, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # N x w x S/2 x S/2
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),   # N x 2w x 1 x 1
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(2 * w, config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
