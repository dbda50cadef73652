"""Autoencoders: dense, stacked, 2-D-code, convolutional and denoising.

G. E. Hinton, R. R. Salakhutdinov. "Reducing the dimensionality of data with neural networks."
Science 313(5786), 2006 (deep autoencoders, codes reused by classifiers).
P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol. "Extracting and composing robust features
with denoising autoencoders." ICML 2008.

An encoder maps an image to a code, a decoder maps the code back to an image in [0, 1]
(sigmoid output; the training target is the clean image, scored by BCE or MSE). The variants
differ only in data (`VARIANTS`, the manifest's `defaults`):

| model          | encoder (dense widths or conv channels) | code | noise                 |
| -------------- | --------------------------------------- | ---- | --------------------- |
| `ae`           | 784-256                                 | 32   | none                  |
| `stacked_ae`   | 784-300                                 | 150  | none (784-300-150-300-784) |
| `ae_2d`        | 784-128-64-10                           | 2    | none (for the 2-D map) |
| `conv_ae`      | 1-32-64 (two stride-2 convs)            | 32   | none                  |
| `denoising_ae` | 784-500                                 | 128  | masking 0.25          |

The decoder mirrors the encoder. `ae_classifier` is a classifier built on an autoencoder's
encoder (the same `Encoder`, so `zoo train ae_classifier --init-from stacked_ae.mnist` loads its
`encoder.*` tensors) with a linear head on the batch-normalised code; `--freeze encoder` keeps the codes fixed,
leaving it out fine-tunes encoder and head jointly. The denoising autoencoder corrupts its input in training
mode only (like dropout, from the global RNG, so resume replays it); the target stays clean.

`sample` is not part of the autoencoder papers: an autoencoder has no prior. The decoder keeps
a diagonal Gaussian fitted to the codes of the data it was last evaluated on (`fit_prior`,
called by the autoencoding task after every evaluation) and decodes draws from it, so every
autoencoder offers the zoo's generative surface and its bundle's decoder samples on its own.
That, encode/decode and export are the public `zoo.surfaces.autoencoder.Autoencoder`; this file
holds the networks, the variant table and the denoising corruption.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import Activation, ImageClassifierConfig
from zoo.layers import activation_layer
from zoo.surfaces import autoencoder as surface
from zoo.surfaces.autoencoder import AutoencoderConfigBase
from zoo.surfaces.classifier import Classifier

Noise = Literal["none", "gaussian", "masking", "salt_and_pepper"]

# Recorded here as the table above; the manifest's `defaults` select them by name.
VARIANTS: dict[str, dict[str, Any]] = {
    "ae": {"hidden_sizes": [256], "code_size": 32},
    "stacked_ae": {"hidden_sizes": [300], "code_size": 150},
    "ae_2d": {"hidden_sizes": [128, 64, 10], "code_size": 2},
    "conv_ae": {"architecture": "conv", "hidden_sizes": [32, 64], "code_size": 32},
    "denoising_ae": {"hidden_sizes": [500], "code_size": 128, "noise": "masking", "noise_level": 0.25},
}


class AutoencoderConfig(AutoencoderConfigBase):
    """One config for every autoencoder; `variant` names a row of VARIANTS and fills what is left unset
    (`code_size` and `recon_loss`, which the autoencoding task reads, come from `AutoencoderConfigBase`)."""

    variant: Literal["ae", "stacked_ae", "ae_2d", "conv_ae", "denoising_ae"] = Field(
        "ae", description="Row of the variant table whose sizes fill the unset fields.")
    in_chans: int = Field(1, ge=1, description="Image channels.")
    image_size: int = Field(28, ge=4, description="Image height and width in pixels.")
    architecture: Literal["dense", "conv"] = Field("dense", description="dense: MLP on flattened pixels; conv: stride-2 convolutions.")
    hidden_sizes: list[int] = Field(default_factory=lambda: [256], description="Encoder widths (dense) or channels (conv), input side first; the decoder mirrors them.")
    activation: Activation = Field("relu", description="Hidden activation.")
    noise: Noise = Field("none", description="Input corruption in training (denoising): gaussian (std = noise_level), masking (zero a noise_level fraction), salt_and_pepper (set a noise_level fraction to 0 or 1).")
    noise_level: float = Field(0.0, ge=0.0, le=1.0, description="Strength of `noise`.")

    @model_validator(mode="before")
    @classmethod
    def _variant_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**VARIANTS[data.get("variant", "ae")], **data} if data.get("variant", "ae") in VARIANTS else data
        return data

    @model_validator(mode="after")
    def _fits(self) -> AutoencoderConfig:
        if self.architecture == "conv" and self.image_size % 2 ** len(self.hidden_sizes):
            raise ValueError(f"image_size={self.image_size} must be divisible by {2 ** len(self.hidden_sizes)} "
                             f"for {len(self.hidden_sizes)} stride-2 convolutions")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes={self.hidden_sizes}: every size must be at least 1")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """The family's recipe: Adam 1e-3, batch 128, 20 epochs, cosine schedule after a 0.1-epoch warm-up."""
        return {"epochs": 20, "batch_size": 128, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
                "scheduler": "cosine", "warmup_epochs": 0.1, "checkpoint_every": 500}


def _mlp(sizes: list[int], activation: str, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation_layer(activation))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Image N x C x H x W -> code N x code_size."""

    def __init__(self, c: AutoencoderConfig) -> None:
        super().__init__()
        pixels = c.in_chans * c.image_size ** 2
        if c.architecture == "dense":
            self.net = nn.Sequential(nn.Flatten(), _mlp([pixels, *c.hidden_sizes, c.code_size], c.activation, False))
        else:
            convs: list[nn.Module] = []
            for a, b in zip([c.in_chans, *c.hidden_sizes[:-1]], c.hidden_sizes):
                convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), activation_layer(c.activation)]  # side halves
            side = c.image_size // 2 ** len(c.hidden_sizes)
            self.net = nn.Sequential(*convs, nn.Flatten(), nn.Linear(c.hidden_sizes[-1] * side * side, c.code_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Code N x code_size -> logits N x C x H x W (the base class adds the Gaussian `sample` draws codes from)."""

    def __init__(self, c: AutoencoderConfig) -> None:
        super().__init__()
        self.shape = (c.in_chans, c.image_size, c.image_size)
        if c.architecture == "dense":
            sizes = [c.code_size, *reversed(c.hidden_sizes), c.in_chans * c.image_size ** 2]
            self.net = nn.Sequential(_mlp(sizes, c.activation, False), nn.Unflatten(1, self.shape))
        else:
            side = c.image_size // 2 ** len(c.hidden_sizes)
            chans = list(reversed(c.hidden_sizes))
            layers: list[nn.Module] = [nn.Linear(c.code_size, chans[0] * side * side), activation_layer(c.activation),
                                       nn.Unflatten(1, (chans[0], side, side))]
            for i, (a, b) in enumerate(zip(chans, [*chans[1:], c.in_chans])):
                layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))  # side doubles
                if i < len(chans) - 1:
                    layers.append(activation_layer(c.activation))
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Autoencoder(surface.Autoencoder):
    """The zoo's autoencoders: `zoo.surfaces.autoencoder.Autoencoder` on the networks above, with denoising noise."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__(config, Encoder(config), Decoder(config))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The denoising corruption of Vincent et al. (identity when `noise` is none)."""
        c = self.config
        if c.noise == "none" or c.noise_level == 0:
            return x
        if c.noise == "gaussian":
            return x + c.noise_level * torch.randn_like(x)
        hit = torch.rand_like(x) < c.noise_level
        if c.noise == "masking":
            return x.masked_fill(hit, 0.0)
        return torch.where(hit, (torch.rand_like(x) < 0.5).to(x.dtype), x)  # salt and pepper


class AEClassifierConfig(ImageClassifierConfig):
    """A classifier on an autoencoder's codes: the encoder fields of AutoencoderConfig, num_classes and dropout."""

    variant: Literal["ae", "stacked_ae", "ae_2d", "conv_ae", "denoising_ae"] = Field(
        "stacked_ae", description="The autoencoder whose encoder this is (its row of the variant table fills the unset sizes).")
    image_size: int = Field(28, ge=4, description="Image height and width in pixels.")
    architecture: Literal["dense", "conv"] = Field("dense", description="The encoder's architecture, as in the autoencoder.")
    hidden_sizes: list[int] = Field(default_factory=lambda: [300], description="The encoder's widths or channels, as in the autoencoder.")
    code_size: int = Field(150, ge=1, description="Size of the code the head reads.")

    @model_validator(mode="before")
    @classmethod
    def _variant_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("variant", "stacked_ae") in VARIANTS:
            row = VARIANTS[data.get("variant", "stacked_ae")]
            return {**{k: v for k, v in row.items() if k in ("architecture", "hidden_sizes", "code_size")}, **data}
        return data

    def encoder_config(self) -> AutoencoderConfig:
        return AutoencoderConfig(variant=self.variant, in_chans=self.in_chans, image_size=self.image_size,
                                 architecture=self.architecture, hidden_sizes=self.hidden_sizes,
                                 code_size=self.code_size, activation=self.activation)

    def data_defaults(self) -> dict[str, Any]:
        """Pixels in [0, 1], un-normalised, as the autoencoder whose encoder this is was trained on."""
        return {"normalize": False}

    def train_defaults(self) -> dict[str, Any]:
        """Sized for labelled subsets (10-100 per class): Adam 1e-2, 100 epochs, batch 50, so that 10
        labels per class still make two batches and 200 steps. With all labels, fewer epochs suffice."""
        return {"epochs": 100, "batch_size": 50, "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0,
                "scheduler": "cosine", "warmup_epochs": 0.0}


class AEClassifier(Classifier):
    def __init__(self, config: AEClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.encoder_config())
        # Codes come at whatever scale the autoencoder left them (often ~0.1); batch norm standardises
        # them, as the linear probe does, so that one learning rate suits every encoder.
        self.head = nn.Sequential(nn.BatchNorm1d(config.code_size), nn.Dropout(config.dropout),
                                  nn.Linear(config.code_size, config.num_classes))  # N x num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
