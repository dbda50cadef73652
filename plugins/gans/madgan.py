"""MAD-GAN: multiple generators and a discriminator that must say which one made a sample.

A. Ghosh, V. Kulharia, V. Namboodiri, P. Torr, P. Dokania. "Multi-Agent Diverse Generative
Adversarial Networks." CVPR 2018 (arXiv:1704.02906).

k generators share every layer but the last (the paper ties the early layers so that they
learn common features, section 3); the discriminator has k + 1 softmax outputs, k for "made by
generator i" and one for "real". D minimises the cross-entropy of those k + 1 classes, so to
tell the generators apart it pushes them towards different modes; each generator wants its
samples classed as real. G's loss is the non-saturating -log D_real(G_i(z)), the form the
paper trains with (section 3.1, as in Goodfellow et al.). Networks: the DCGAN layout
(`dcgan.ConvGenerator` with k output heads, `dcgan.ConvDiscriminator` with k + 1 outputs).

Sample i of a batch comes from generator i mod k, in training and in `sample`.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from zoo_plugins.gans.base import GAN, GameConfig
from zoo_plugins.gans.dcgan import BASE_SIDE, ConvDiscriminator, ConvGenerator


class MADGANConfig(GameConfig):
    width: int = Field(32, ge=4, description="Channels of G's last shared layer and D's first (DCGAN layout).")
    num_generators: int = Field(4, ge=2, description="k, the number of generators (each has its own output layer).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="One-sided label smoothing of D's 'real' class.")

    @field_validator("image_size")
    @classmethod
    def _sized(cls, v: int) -> int:
        if v not in BASE_SIDE:
            raise ValueError(f"the DCGAN networks are sized for {', '.join(map(str, BASE_SIDE))} pixels, not {v}")
        return v

    def train_defaults(self) -> dict[str, Any]:
        """DCGAN's recipe (Adam 2e-4, beta1 0.5), batch 128."""
        return {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "batch_size": 128,
                "scheduler": "none", "warmup_epochs": 0.0, "epochs": 5}


class MultiGenerator(ConvGenerator):
    """k generators in one module: the shared trunk, then output head `which[i]` for sample i."""

    def forward(self, z: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
        k = len(self.heads)
        if which is None:
            which = torch.arange(z.shape[0], device=z.device) % k
        h = self.trunk(z, None)
        images = torch.stack([head(h) for head in self.heads], 1)  # N x k x C x H x W
        pick = nn.functional.one_hot(which, k).to(images.dtype)[:, :, None, None, None]
        return torch.tanh((images * pick).sum(1))  # N x C x H x W


class MADGAN(GAN):
    def __init__(self, config: MADGANConfig) -> None:
        k = config.num_generators
        super().__init__(config,
                         MultiGenerator(config, config.width, conditional=False, heads=k),
                         ConvDiscriminator(config, config.width, conditional=False, outputs=k + 1))

    def game(self) -> dict[str, Any]:
        return {**super().game(), "loss": "identification"}

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Noise, and which generator makes each image (0..k-1)."""
        return {"noise": torch.randn(batch_size, self.latent_dim),
                "generator": torch.randint(self.config.num_generators, (batch_size,))}
