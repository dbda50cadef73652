"""Variational autoencoders: VAE, convolutional VAE, β-VAE, conditional VAE.

D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes." ICLR 2014 (arXiv 1312.6114, 2013).
I. Higgins et al. "β-VAE: Learning basic visual concepts with a constrained variational
framework." ICLR 2017.
Y. Burda, R. Grosse, R. Salakhutdinov. "Importance Weighted Autoencoders." ICLR 2016 (arXiv 1509.00519).
K. Sohn, H. Lee, X. Yan. "Learning structured output representation using deep conditional
generative models." NeurIPS 2015.

Encoder q(z|x) = N(mean(x), diag(exp(logvar(x)))); prior p(z) = N(0, I); decoder p(x|z) is
Bernoulli (logits; for binarised data) or Gaussian with a fixed or a learned (scalar) standard
deviation. The training objective, negative ELBO = reconstruction + β·KL, lives in the
`variational` task. What is generic (the posterior, the likelihoods, conditioning, sampling,
export) is the public `zoo.surfaces.vae.VAE`; this file holds the networks. The variants are
data (`VARIANTS`):

| model      | encoder                         | latent | decoder   | β | condition      |
| ---------- | ------------------------------- | ------ | --------- | - | -------------- |
| `vae`      | 784-400                         | 40     | Bernoulli | 1 | none           |
| `conv_vae` | 1-32-64 (two stride-2 convs)    | 16     | Bernoulli | 1 | none           |
| `beta_vae` | 784-400                         | 10     | Bernoulli | 4 | none           |
| `cvae`     | 784+10 - 400                    | 20     | Bernoulli | 1 | label (one-hot) |
| `iwae`     | 784-400                         | 40     | Bernoulli | 1 | none; trained on the k=5 IW bound |

`vae` is the 784-400-40 network of the issue's NLL benchmark (Kingma & Welling used 500 hidden
units and tanh; ReLU and 400 units are pythae's MNIST VAE, the peer we compare with).
The cvae feeds the one-hot label to both encoder and decoder, as Sohn et al.; in the conv
variant the label joins the flattened conv features (not the pixels), which keeps the convs
unchanged by conditioning. `iwae` is the `vae` network trained on the importance-weighted bound
(`objective=iwae`, k=5; Burda et al.'s k=50 is `--set k=50`), so the two differ only in the
objective: Burda et al.'s own one-stochastic-layer network was 784-200-200-50 tanh, kept apart
here so that vae.mnist is the like-for-like baseline.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import Activation
from zoo.layers import activation_layer
from zoo.surfaces import vae as surface
from zoo.surfaces.vae import GaussianPosterior, VAEConfigBase

VARIANTS: dict[str, dict[str, Any]] = {
    "vae": {"hidden_sizes": [400], "latent_size": 40},
    "conv_vae": {"architecture": "conv", "hidden_sizes": [32, 64], "latent_size": 16},
    "beta_vae": {"hidden_sizes": [400], "latent_size": 10, "beta": 4.0},
    "cvae": {"hidden_sizes": [400], "latent_size": 20, "condition_classes": 10},
    "iwae": {"hidden_sizes": [400], "latent_size": 40, "objective": "iwae", "k": 5},
}


class VAEConfig(VAEConfigBase):
    """One config for every VAE; `variant` names a row of VARIANTS and fills what is left unset.

    The fields the variational task reads (likelihood, binarize, beta, kl_warmup_epochs, latent_size,
    decoder_std, condition_classes) come from `VAEConfigBase`."""

    variant: Literal["vae", "conv_vae", "beta_vae", "cvae", "iwae"] = Field(
        "vae", description="Row of the variant table whose sizes fill the unset fields.")
    in_chans: int = Field(1, ge=1, description="Image channels.")
    image_size: int = Field(28, ge=4, description="Image height and width in pixels.")
    architecture: Literal["dense", "conv"] = Field("dense", description="dense: MLP on flattened pixels; conv: stride-2 convolutions.")
    hidden_sizes: list[int] = Field(default_factory=lambda: [400], description="Encoder widths (dense) or channels (conv), input side first; the decoder mirrors them. [] makes both linear (probabilistic PCA with a Gaussian decoder).")
    activation: Activation = Field("relu", description="Hidden activation.")
    variance: Literal["fixed", "learned"] = Field("fixed", description="Gaussian decoder: standard deviation fixed at decoder_std, or learned (one scalar).")

    @model_validator(mode="before")
    @classmethod
    def _variant_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("variant", "vae") in VARIANTS:
            return {**VARIANTS[data.get("variant", "vae")], **data}
        return data

    @model_validator(mode="after")
    def _fits(self) -> VAEConfig:
        if self.architecture == "conv" and (not self.hidden_sizes or self.image_size % 2 ** len(self.hidden_sizes)):
            raise ValueError(f"architecture=conv needs hidden_sizes and image_size={self.image_size} divisible by "
                             f"{2 ** len(self.hidden_sizes)}")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes={self.hidden_sizes}: every size must be at least 1")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """The family's recipe: Adam 1e-3, batch 100, 200 epochs, cosine to 1e-5 (about 25 minutes on one CPU core for
        the 784-400-40 vae; 100 epochs left it 0.6 nats short of the 89.9-nat goal)."""
        return {"epochs": 200, "batch_size": 100, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
                "scheduler": "cosine", "warmup_epochs": 0.0, "min_lr": 1e-5, "checkpoint_every": 1000}


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation_layer(activation)]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Image N x C x H x W (+ one-hot label N x classes) -> q(z|x)."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        if c.architecture == "dense":
            pixels = c.in_chans * c.image_size ** 2
            self.body = _mlp([pixels + c.condition_classes, *c.hidden_sizes], c.activation)
            self.conv = None
            width = c.hidden_sizes[-1] if c.hidden_sizes else pixels + c.condition_classes
        else:
            convs: list[nn.Module] = []
            for a, b in zip([c.in_chans, *c.hidden_sizes[:-1]], c.hidden_sizes):
                convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), activation_layer(c.activation)]  # side halves
            side = c.image_size // 2 ** len(c.hidden_sizes)
            self.conv = nn.Sequential(*convs, nn.Flatten())  # N x hidden[-1]·side²
            self.body = nn.Identity()
            width = c.hidden_sizes[-1] * side * side + c.condition_classes
        self.mean = nn.Linear(width, c.latent_size)
        self.logvar = nn.Linear(width, c.latent_size)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None) -> GaussianPosterior:
        if self.conv is not None:
            h = self.conv(x)
            h = h if onehot is None else torch.cat([h, onehot], 1)
        else:
            h = x.flatten(1) if onehot is None else torch.cat([x.flatten(1), onehot], 1)
            h = self.body(h)
        return GaussianPosterior(self.mean(h), self.logvar(h))


class Decoder(nn.Module):
    """z N x latent (+ one-hot label) -> N x C x H x W: Bernoulli logits or Gaussian mean."""

    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        self.shape = (c.in_chans, c.image_size, c.image_size)
        width = c.latent_size + c.condition_classes
        if c.architecture == "dense":
            sizes = [width, *reversed(c.hidden_sizes)]
            self.net = nn.Sequential(_mlp(sizes, c.activation), nn.Linear(sizes[-1], c.in_chans * c.image_size ** 2),
                                     nn.Unflatten(1, self.shape))
        else:
            side = c.image_size // 2 ** len(c.hidden_sizes)
            chans = list(reversed(c.hidden_sizes))
            layers: list[nn.Module] = [nn.Linear(width, chans[0] * side * side), activation_layer(c.activation),
                                       nn.Unflatten(1, (chans[0], side, side))]
            for i, (a, b) in enumerate(zip(chans, [*chans[1:], c.in_chans])):
                layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))  # side doubles
                if i < len(chans) - 1:
                    layers.append(activation_layer(c.activation))
            self.net = nn.Sequential(*layers)
        if c.likelihood == "gaussian" and c.variance == "learned":  # a fixed σ is the base class's buffer
            self.log_std = nn.Parameter(torch.tensor(math.log(c.decoder_std)))

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z if onehot is None else torch.cat([z, onehot], 1))


class VAE(surface.VAE):
    """The zoo's VAEs: `zoo.surfaces.vae.VAE` on the dense or convolutional networks above."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config, Encoder(config), Decoder(config))
