"""Variational autoencoders: VAE, convolutional VAE, β-VAE, conditional VAE.

D. P. Kingma, M. Welling. "Auto-Encoding Variational Bayes." ICLR 2014 (arXiv 1312.6114, 2013).
I. Higgins et al. "β-VAE: Learning basic visual concepts with a constrained variational
framework." ICLR 2017.
K. Sohn, H. Lee, X. Yan. "Learning structured output representation using deep conditional
generative models." NeurIPS 2015.

Encoder q(z|x) = N(mean(x), diag(exp(logvar(x)))); prior p(z) = N(0, I); decoder p(x|z) is
Bernoulli (logits; for binarised data) or Gaussian with a fixed or a learned (scalar) standard
deviation. The training objective, negative ELBO = reconstruction + β·KL, lives in the
`variational` task; the model supplies `log_likelihood`. The variants are data (`VARIANTS`):

| model      | encoder                         | latent | decoder   | β | condition      |
| ---------- | ------------------------------- | ------ | --------- | - | -------------- |
| `vae`      | 784-400                         | 40     | Bernoulli | 1 | none           |
| `conv_vae` | 1-32-64 (two stride-2 convs)    | 16     | Bernoulli | 1 | none           |
| `beta_vae` | 784-400                         | 10     | Bernoulli | 4 | none           |
| `cvae`     | 784+10 - 400                    | 20     | Bernoulli | 1 | label (one-hot) |

`vae` is the 784-400-40 network of the issue's NLL benchmark (Kingma & Welling used 500 hidden
units and tanh; ReLU and 400 units are pythae's MNIST VAE, the peer we compare with).
The cvae feeds the one-hot label to both encoder and decoder, as Sohn et al.; in the conv
variant the label joins the flattened conv features (not the pixels), which keeps the convs
unchanged by conditioning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from zoo.config import Activation, ConfigError, ModelConfig
from zoo.layers import activation_layer

VARIANTS: dict[str, dict[str, Any]] = {
    "vae": {"hidden_sizes": [400], "latent_size": 40},
    "conv_vae": {"architecture": "conv", "hidden_sizes": [32, 64], "latent_size": 16},
    "beta_vae": {"hidden_sizes": [400], "latent_size": 10, "beta": 4.0},
    "cvae": {"hidden_sizes": [400], "latent_size": 20, "condition_classes": 10},
}


class VAEConfig(ModelConfig):
    """One config for every VAE; `variant` names a row of VARIANTS and fills what is left unset."""

    variant: Literal["vae", "conv_vae", "beta_vae", "cvae"] = Field(
        "vae", description="Row of the variant table whose sizes fill the unset fields.")
    in_chans: int = Field(1, ge=1, description="Image channels.")
    image_size: int = Field(28, ge=4, description="Image height and width in pixels.")
    architecture: Literal["dense", "conv"] = Field("dense", description="dense: MLP on flattened pixels; conv: stride-2 convolutions.")
    hidden_sizes: list[int] = Field(default_factory=lambda: [400], description="Encoder widths (dense) or channels (conv), input side first; the decoder mirrors them. [] makes both linear (probabilistic PCA with a Gaussian decoder).")
    latent_size: int = Field(40, ge=1, description="Dimension of z.")
    activation: Activation = Field("relu", description="Hidden activation.")
    likelihood: Literal["bernoulli", "gaussian"] = Field("bernoulli", description="Decoder distribution p(x|z): Bernoulli on binarised pixels, or Gaussian.")
    variance: Literal["fixed", "learned"] = Field("fixed", description="Gaussian decoder: standard deviation fixed at decoder_std, or learned (one scalar).")
    decoder_std: float = Field(0.1, gt=0, description="Gaussian decoder: the fixed standard deviation, or the learned one's start.")
    binarize: bool = Field(True, description="Bernoulli decoder: train on a fresh Bernoulli draw of each batch (dynamic binarisation); evaluate on one fixed draw of the test set.")
    beta: float = Field(1.0, gt=0, description="Weight of the KL term in the training loss (β-VAE); the reported ELBO always uses 1.")
    kl_warmup_epochs: float = Field(0.0, ge=0, description="Ramp β linearly from 0 over this many epochs (0: no warm-up).")
    condition_classes: int = Field(0, ge=0, description="Number of label classes conditioning encoder and decoder (cvae); 0: unconditional.")

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


@dataclass
class Posterior:
    """q(z|x): N x latent mean and log-variance."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def rsample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The reparameterisation trick: z = mean + std·ε, ε ~ N(0, I) (from `generator`, else the global RNG)."""
        eps = torch.randn(self.mean.shape, generator=generator).to(self.mean.device)
        return self.mean + torch.exp(0.5 * self.logvar) * eps

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per example, in closed form (N)."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar).sum(1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) of z (... x N x latent, broadcast over leading sample dims) -> ... x N."""
        return _normal_log_prob(z, self.mean, self.logvar).sum(-1)


@dataclass
class VAEOutput:
    posterior: Posterior
    z: torch.Tensor       # N x latent: a draw from q in training mode, its mean in eval mode
    params: torch.Tensor  # N x C x H x W decoder output: Bernoulli logits or the Gaussian mean


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean).square() / logvar.exp())


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation_layer(activation)]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Image N x C x H x W (+ one-hot label N x classes) -> Posterior."""

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

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None) -> Posterior:
        if self.conv is not None:
            h = self.conv(x)
            h = h if onehot is None else torch.cat([h, onehot], 1)
        else:
            h = x.flatten(1) if onehot is None else torch.cat([x.flatten(1), onehot], 1)
            h = self.body(h)
        return Posterior(self.mean(h), self.logvar(h))


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
        if c.likelihood == "gaussian":
            log_std = torch.tensor(math.log(c.decoder_std))
            if c.variance == "learned":
                self.log_std = nn.Parameter(log_std)
            else:
                self.register_buffer("log_std", log_std)

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z if onehot is None else torch.cat([z, onehot], 1))


class VAE(nn.Module):
    value_range = (0.0, 1.0)

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.condition_type = "label" if config.condition_classes else None
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    # ------------------------------------------------------------ surface

    def encode(self, x: torch.Tensor, condition: Any = None) -> Posterior:
        return self.encoder(x, self.onehot(condition, len(x), x.device))

    def decode(self, z: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """z -> the decoder's mean image: Bernoulli probabilities, or the Gaussian mean."""
        return self.mean_image(self.decode_params(z, condition))

    def decode_params(self, z: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """z -> the decoder's output: Bernoulli logits, or the Gaussian mean (N x C x H x W)."""
        return self.decoder(z, self.onehot(condition, len(z), z.device))

    def forward(self, x: torch.Tensor, condition: Any = None) -> VAEOutput:
        onehot = self.onehot(condition, len(x), x.device)
        posterior = self.encoder(x, onehot)
        z = posterior.rsample() if self.training else posterior.mean
        return VAEOutput(posterior, z, self.decoder(z, onehot))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None) -> torch.Tensor:
        """n images in [0, 1] from z ~ N(0, I); a cvae without a condition cycles through its labels."""
        device = next(self.decoder.parameters()).device
        z = torch.randn(n, self.config.latent_size, generator=generator).to(device)
        if self.condition_type and condition is None:
            condition = torch.arange(n) % self.config.condition_classes
        return self.decode(z, condition).clamp(0.0, 1.0)

    # ------------------------------------------------------------ likelihood

    def mean_image(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params) if self.config.likelihood == "bernoulli" else params

    def log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels: params ... x C x H x W (decoder output), x broadcastable -> ... ."""
        if self.config.likelihood == "bernoulli":
            x = x.expand_as(params)
            return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(-3).sum(-1)
        logvar = 2 * self.decoder.log_std
        return _normal_log_prob(x, params, logvar.expand_as(params)).flatten(-3).sum(-1)

    def onehot(self, condition: Any, n: int, device: torch.device) -> torch.Tensor | None:
        k = self.config.condition_classes
        if not k:
            if condition is not None:
                raise ConfigError(f"{self.config.variant} is not conditional; it takes no label")
            return None
        if condition is None:
            raise ConfigError(f"{self.config.variant} is conditional: give a label (0 to {k - 1})")
        labels = torch.as_tensor(condition, dtype=torch.long).reshape(-1).to(device)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"{labels.numel()} labels for {n} examples")
        if labels.min() < 0 or labels.max() >= k:
            raise ConfigError(f"label {int(labels.max() if labels.max() >= k else labels.min())} is out of range "
                              f"(this {self.config.variant} has labels 0 to {k - 1})")
        return F.one_hot(labels, k).to(torch.float32)

    # ------------------------------------------------------------ export

    def export_module(self) -> nn.Module:
        """What `zoo export` writes: the decoder, code (+ one-hot label) -> mean image."""
        return _DecoderExport(self.decoder, self.config.likelihood == "bernoulli")

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        inputs = {"code": torch.randn(batch_size, self.config.latent_size)}
        if self.config.condition_classes:
            labels = torch.arange(batch_size) % self.config.condition_classes
            inputs["label_onehot"] = F.one_hot(labels, self.config.condition_classes).to(torch.float32)
        return inputs


class _DecoderExport(nn.Module):
    def __init__(self, decoder: Decoder, bernoulli: bool) -> None:
        super().__init__()
        self.decoder, self.bernoulli = decoder, bernoulli

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        params = self.decoder(z, onehot)
        return torch.sigmoid(params) if self.bernoulli else params
