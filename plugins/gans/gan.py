"""GAN, cGAN and LSGAN: the fully connected generative adversarial networks.

I. Goodfellow et al. "Generative Adversarial Nets." NeurIPS 2014.
M. Mirza, S. Osindero. "Conditional Generative Adversarial Nets." arXiv:1411.1784, 2014.
X. Mao et al. "Least Squares Generative Adversarial Networks." ICCV 2017.

Variants (manifest `defaults`):

| model | objective      | conditional |
| ----- | -------------- | ----------- |
| gan   | non_saturating | no          |
| cgan  | non_saturating | yes         |
| lsgan | least_squares  | no          |

G: z (+ one-hot label) -> hidden, 2 hidden, 4 hidden (LeakyReLU 0.2, batch norm) -> tanh
pixels. D: pixels (+ one-hot label) -> 2 hidden, hidden (LeakyReLU 0.2) -> one logit.
Deviations, and why: Goodfellow et al.'s MNIST D used maxout units and dropout, and Mirza &
Osindero mapped z and y through separate layers before joining them; here both networks are
the plain LeakyReLU MLPs of the common PyTorch re-implementations, so the three variants differ
only in objective and conditioning and compare on one footing. G's default loss is the
non-saturating one the 2014 paper recommends (section 3); `objective=minimax` is the game as
written, and any registered objective (`zoo list --objectives`) may be given.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from zoo_plugins.gans.base import GAN, GameConfig, MinibatchDiscrimination, Remedies


class MLPGANConfig(Remedies, GameConfig):
    hidden: int = Field(256, ge=4, description="G's first hidden width (then 2x, 4x); D's last (after 2x).")
    conditional: bool = Field(False, description="Feed the one-hot class label to G and D (cGAN).")

    def train_defaults(self) -> dict[str, Any]:
        """Adam 2e-4, beta1 0.5, batch 64, constant lr (the recipe of the common re-implementations)."""
        return {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "batch_size": 64,
                "scheduler": "none", "warmup_epochs": 0.0, "epochs": 10}


def pixels(c: GameConfig) -> int:
    return c.in_chans * c.image_size ** 2


def mlp_trunk(inputs: int, hidden: int) -> list[nn.Module]:
    """G's hidden layers: inputs -> hidden -> 2 hidden -> 4 hidden (LeakyReLU 0.2, batch norm after the first)."""
    h = hidden
    return [nn.Linear(inputs, h), nn.LeakyReLU(0.2, inplace=True),  # N x h
            nn.Linear(h, 2 * h), nn.BatchNorm1d(2 * h), nn.LeakyReLU(0.2, inplace=True),  # N x 2h
            nn.Linear(2 * h, 4 * h), nn.BatchNorm1d(4 * h), nn.LeakyReLU(0.2, inplace=True)]  # N x 4h


class MLPGenerator(nn.Module):
    def __init__(self, c: GameConfig, hidden: int, conditional: bool) -> None:
        super().__init__()
        self.classes, self.shape = (c.num_classes if conditional else 0), (c.in_chans, c.image_size, c.image_size)
        self.net = nn.Sequential(*mlp_trunk(c.latent_dim + self.classes, hidden),
                                 nn.Linear(4 * hidden, pixels(c)), nn.Tanh())  # N x C*H*W

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.classes).to(z.dtype)], 1)
        return self.net(z).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    """Pixels (+ one-hot label) -> 2 hidden -> hidden (the features) -> `outputs` logits."""

    def __init__(self, c: GameConfig, hidden: int, conditional: bool, minibatch_features: int = 0,
                 outputs: int = 1) -> None:
        super().__init__()
        self.classes = c.num_classes if conditional else 0
        h = hidden
        self.body = nn.Sequential(
            nn.Linear(pixels(c) + self.classes, 2 * h), nn.LeakyReLU(0.2, inplace=True),  # N x 2h
            nn.Linear(2 * h, h), nn.LeakyReLU(0.2, inplace=True))  # N x h: the features
        self.minibatch = MinibatchDiscrimination(h, minibatch_features) if minibatch_features else nn.Identity()
        self.head = nn.Linear(h + minibatch_features, outputs)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)
        if self.classes:
            x = torch.cat([x, nn.functional.one_hot(labels, self.classes).to(x.dtype)], 1)
        features = self.body(x)
        return self.head(self.minibatch(features)), features


class MLPGAN(GAN):
    def __init__(self, config: MLPGANConfig) -> None:
        super().__init__(config, MLPGenerator(config, config.hidden, config.conditional),
                         MLPDiscriminator(config, config.hidden, config.conditional, config.minibatch_features))
