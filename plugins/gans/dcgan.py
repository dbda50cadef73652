"""DCGAN.

A. Radford, L. Metz, S. Chintala. "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks." ICLR 2016 (arXiv:1511.06434).

The paper's guidelines (section 3): strided convolutions instead of pooling (transposed in G),
batch norm in both networks except G's output and D's input layer, no hidden fully connected
layers (G's first layer projects z and reshapes; D's last flattens into one logit), ReLU in G
with a tanh output, LeakyReLU(0.2) in D; Adam 2e-4, beta1 0.5, batch 128; weights N(0, 0.02).

Sizes: 28 px (7 -> 14 -> 28), 32 px (4 -> 8 -> 16 -> 32) and 64 px (4 -> ... -> 64); each
upsampling halves the channels, ending at `width` (the paper's 64 px LSUN model is
1024-512-256-128, width 128); `d_width` sizes D apart from G. The objective is the paper's
non-saturating log loss unless `objective` names another registered one (hinge, least_squares,
relativistic_average, ...). `ConvGenerator` and
`ConvDiscriminator` are also the networks of WGAN/WGAN-GP and MAD-GAN, which took the DCGAN
architecture.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from zoo.config import ZooConfig
from zoo_plugins.gans.base import GAN, GameConfig, MinibatchDiscrimination, Remedies, dcgan_init

BASE_SIDE = {28: 7, 32: 4, 64: 4}  # image size -> side of G's first feature map


class DiscriminatorWidth(ZooConfig):
    """D's own width beside G's `width` (ngf and ndf in PyTorch's DCGAN example)."""

    d_width: int | None = Field(None, ge=4, description="Channels of D's first layer, when they differ from G's "
                                                         "(default: width). Metz et al. make DCGAN collapse on stacked "
                                                         "MNIST by shrinking D alone.")

    @property
    def discriminator_width(self) -> int:
        return self.d_width or self.width  # type: ignore[attr-defined]  # every user of the mixin has `width`


class DCGANConfig(DiscriminatorWidth, Remedies, GameConfig):
    width: int = Field(32, ge=4, description="Channels of G's last hidden layer and D's first (unless d_width); "
                                             "doubled at each coarser scale. The paper's 64 px LSUN model has 128; "
                                             "32 is sized for CPU training on 28-32 px digits (width 64 costs 3x per "
                                             "step).")
    conditional: bool = Field(False, description="Condition G and D on the class label (one-hot, as in cGAN).")

    @field_validator("image_size")
    @classmethod
    def _sized(cls, v: int) -> int:
        if v not in BASE_SIDE:
            raise ValueError(f"DCGAN is sized for {', '.join(map(str, BASE_SIDE))} pixels, not {v}")
        return v

    def train_defaults(self) -> dict[str, Any]:
        """The paper's recipe: Adam 2e-4, beta1 0.5, batch 128, constant lr, no weight decay."""
        return {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "batch_size": 128,
                "scheduler": "none", "warmup_epochs": 0.0, "epochs": 5}


def _upsamplings(image_size: int) -> int:
    return {28: 2, 32: 3, 64: 4}[image_size]


class ConvGenerator(nn.Module):
    """z (+ one-hot label) -> project to base x base -> transposed convs (4, stride 2) -> tanh image."""

    def __init__(self, c: GameConfig, width: int, conditional: bool, heads: int = 1) -> None:
        super().__init__()
        ups = _upsamplings(c.image_size)
        self.base, self.top = BASE_SIDE[c.image_size], width * 2 ** (ups - 1)
        self.classes = c.num_classes if conditional else 0
        self.project = nn.Sequential(  # N x top*base*base, reshaped to N x top x base x base
            nn.Linear(c.latent_dim + self.classes, self.top * self.base ** 2, bias=False),
            nn.BatchNorm1d(self.top * self.base ** 2), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        ch = self.top
        for _ in range(ups - 1):  # each: N x ch x s x s -> N x ch/2 x 2s x 2s
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        self.body = nn.Sequential(*layers)
        # The output layer: no batch norm (paper). MAD-GAN gives each of its k generators its own.
        self.heads = nn.ModuleList(nn.ConvTranspose2d(ch, c.in_chans, 4, 2, 1) for _ in range(heads))
        dcgan_init(self)

    def trunk(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.classes).to(z.dtype)], 1)
        h = self.project(z).view(-1, self.top, self.base, self.base)
        return self.body(h)  # N x width x side/2 x side/2

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.heads[0](self.trunk(z, labels)))  # N x C x side x side


class ConvDiscriminator(nn.Module):
    """Image (+ one-hot label planes) -> strided convs (4, stride 2) down to base side -> flatten -> `outputs` logits."""

    def __init__(self, c: GameConfig, width: int, conditional: bool, norm: bool = True, outputs: int = 1,
                 minibatch_features: int = 0) -> None:
        super().__init__()
        ups = _upsamplings(c.image_size)
        self.classes = c.num_classes if conditional else 0
        layers: list[nn.Module] = []
        ch_in, ch = c.in_chans + self.classes, width
        for i in range(ups):  # each: N x ch_in x s x s -> N x ch x s/2 x s/2
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=not norm or i == 0))
            if norm and i > 0:  # no batch norm on D's input layer (paper)
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        features = ch_in * BASE_SIDE[c.image_size] ** 2
        self.minibatch = MinibatchDiscrimination(features, minibatch_features) if minibatch_features else nn.Identity()
        self.head = nn.Linear(features + minibatch_features, outputs)
        dcgan_init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.classes:
            planes = nn.functional.one_hot(labels, self.classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], 1)
        features = self.body(x)  # N x top*base*base
        return self.head(self.minibatch(features)), features


class DCGAN(GAN):
    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config,
                         ConvGenerator(config, config.width, config.conditional),
                         ConvDiscriminator(config, config.discriminator_width, config.conditional,
                                           minibatch_features=config.minibatch_features))
