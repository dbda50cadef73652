"""What a VAE provides for the `variational` task, and the base classes that provide most of it.

The task (zoo/tasks/variational.py) trains on the negative ELBO, recon + β·KL, and calls:

- `encode(x, condition=None) -> posterior` q(z|x), a diagonal Gaussian with `mean` and `logvar`
  (N x latent), `rsample(generator=None)` (reparameterised draw), `kl()` (KL(q ‖ N(0, I)) per
  example) and `log_prob(z)` (log q(z|x), broadcast over leading sample dimensions):
  `GaussianPosterior` is one;
- `decode_params(z, condition=None)`: the decoder's output, Bernoulli logits or the Gaussian mean
  (N x C x H x W); `decode(z, condition=None)`: the mean image; `log_likelihood(params, x)`:
  log p(x|z) summed over pixels;
- `forward(x, condition=None) -> VAEOutput(posterior, z, params)`; to train with `objective=iwae`,
  also `forward(x, condition, samples=k)`, k draws of z per example (leading dimension k);
- `sample(n, generator=None, condition=None)`: n images in [0, 1] from z ~ N(0, I);
- the config fields of `VAEConfigBase`: `likelihood`, `binarize`, `beta`, `kl_warmup_epochs`,
  `objective` and `k` (and `zoo_config.input_shape()`). A label-conditioned VAE sets `condition_type = "label"` and
  has `zoo_config.condition_classes` (`LabelConditional`).

`VAE` below implements all of that from two modules: an encoder `(x, onehot) -> GaussianPosterior`
and a decoder `(z, onehot) -> params`, where `onehot` is N x condition_classes, or None for an
unconditional model. A Gaussian decoder's log σ is the decoder's `log_std` tensor (a buffer set
from `decoder_std` unless the decoder has its own, e.g. a learned parameter). `zoo export` writes
the decoder: `code` (+ `label_onehot`) -> the mean image::

    from pydantic import Field
    from torch import nn
    from zoo.surfaces.vae import VAE, GaussianPosterior, VAEConfigBase

    class TinyVAEConfig(VAEConfigBase):
        in_chans: int = Field(1, description="Image channels.")
        image_size: int = Field(28, description="Image side in pixels.")
        hidden: int = Field(64, description="Hidden units.")

    class Encoder(nn.Module):
        def __init__(self, c: TinyVAEConfig) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(c.in_chans * c.image_size ** 2, c.hidden), nn.ReLU())
            self.mean, self.logvar = nn.Linear(c.hidden, c.latent_size), nn.Linear(c.hidden, c.latent_size)

        def forward(self, x, onehot=None):
            h = self.body(x)
            return GaussianPosterior(self.mean(h), self.logvar(h))

    class Decoder(nn.Module):
        def __init__(self, c: TinyVAEConfig) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(c.latent_size, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, c.in_chans * c.image_size ** 2),
                                     nn.Unflatten(1, c.input_shape()))

        def forward(self, z, onehot=None):
            return self.net(z)  # Bernoulli logits

    class TinyVAE(VAE):
        def __init__(self, config: TinyVAEConfig) -> None:
            super().__init__(config, Encoder(config), Decoder(config))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ConfigError, ModelConfig

__all__ = ["GaussianPosterior", "LabelConditional", "VAE", "VAEConfigBase", "VAEOutput", "normal_log_prob"]


class VAEConfigBase(ModelConfig):
    """The config fields the variational task and `VAE` read; a family's config adds its architecture."""

    latent_size: int = Field(16, ge=1, description="Dimension of z.")
    likelihood: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli", description="Decoder distribution p(x|z): Bernoulli on binarised pixels, or Gaussian.")
    decoder_std: float = Field(0.1, gt=0, description="Gaussian decoder: its standard deviation (a family may learn "
                                                      "it, starting here).")
    binarize: bool = Field(True, description="Bernoulli decoder: train on a fresh Bernoulli draw of each batch "
                                             "(dynamic binarisation); evaluate on one fixed draw of the test set.")
    beta: float = Field(1.0, gt=0, description="Weight of the KL term in the training loss (β-VAE); the reported ELBO "
                                               "always uses 1.")
    kl_warmup_epochs: float = Field(0.0, ge=0, description="Ramp β linearly from 0 over this many epochs (0: no "
                                                           "warm-up).")
    condition_classes: int = Field(0, ge=0, description="Number of label classes conditioning encoder and decoder "
                                                        "(a conditional VAE); 0: unconditional.")
    objective: Literal["elbo", "iwae"] = Field(
        "elbo", description="Training loss: elbo (recon + β·KL), or iwae, the importance-weighted bound of Burda et al. "
                            "2016 with k samples per example (β = 1, no warm-up).")
    k: int = Field(1, ge=1, description="objective=iwae: importance samples per training example (the paper's 5 or 50; "
                                        "1 is the one-sample ELBO).")

    @model_validator(mode="after")
    def _iwae_is_unweighted(self) -> VAEConfigBase:
        if self.objective == "iwae" and (self.beta != 1.0 or self.kl_warmup_epochs):
            raise ValueError(f"objective=iwae is the bound on log p(x) itself: it takes beta=1 and kl_warmup_epochs=0 "
                             f"(got beta={self.beta}, kl_warmup_epochs={self.kl_warmup_epochs})")
        if self.objective == "elbo" and self.k != 1:
            raise ValueError(f"k={self.k} is read only with objective=iwae; set objective=iwae or k=1")
        return self


@dataclass
class GaussianPosterior:
    """q(z|x) = N(mean, diag(exp(logvar))): N x latent mean and log-variance."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def rsample(self, generator: torch.Generator | None = None, samples: int | None = None) -> torch.Tensor:
        """The reparameterisation trick: z = mean + std·ε, ε ~ N(0, I) (from `generator`, else the global RNG);
        N x latent, or samples x N x latent when `samples` is given."""
        shape = self.mean.shape if samples is None else (samples, *self.mean.shape)
        eps = torch.randn(shape, generator=generator).to(self.mean.device)
        return self.mean + torch.exp(0.5 * self.logvar) * eps

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per example, in closed form (N)."""
        return 0.5 * (self.mean.square() + self.logvar.exp() - 1.0 - self.logvar).sum(1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) of z (... x N x latent, broadcast over leading sample dims) -> ... x N."""
        return normal_log_prob(z, self.mean, self.logvar).sum(-1)


@dataclass
class VAEOutput:
    posterior: GaussianPosterior
    z: torch.Tensor       # N x latent: a draw from q in training mode, its mean in eval mode
    params: torch.Tensor  # N x C x H x W decoder output: Bernoulli logits or the Gaussian mean


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) elementwise."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean).square() / logvar.exp())


class LabelConditional:
    """What a VAE with `condition_type = "label"` adds to the surface: the number of labels."""

    required: ClassVar[tuple[str, ...]] = ("zoo_config.condition_classes",)


class VAE(nn.Module):
    """A VAE from its config, an encoder `(x, onehot) -> GaussianPosterior` and a decoder `(z, onehot) -> params`."""

    required: ClassVar[tuple[str, ...]] = (
        "zoo_config.input_shape", "zoo_config.likelihood", "zoo_config.binarize", "zoo_config.beta",
        "zoo_config.kl_warmup_epochs", "encode", "decode", "decode_params", "log_likelihood", "sample")
    export_hooks: ClassVar[tuple[str, ...]] = ("export_module", "export_inputs")
    export_output: ClassVar[str] = "image"  # the exported graph maps a code (and label) to the mean image
    value_range = (0.0, 1.0)

    def __init__(self, config: VAEConfigBase, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.condition_type = "label" if self.condition_classes else None
        self.encoder = encoder
        self.decoder = decoder
        # Read with getattr: a config that lacks the task's fields still builds, and the task names what it lacks.
        if getattr(config, "likelihood", None) == "gaussian" and not hasattr(decoder, "log_std"):
            decoder.register_buffer("log_std", torch.tensor(math.log(config.decoder_std)))

    @property
    def condition_classes(self) -> int:
        """Labels a condition picks from: the config's `condition_classes`, 0 (unconditional) when it has none."""
        return getattr(self.config, "condition_classes", 0)

    # ------------------------------------------------------------ surface

    def encode(self, x: torch.Tensor, condition: Any = None) -> GaussianPosterior:
        return self.encoder(x, self.onehot(condition, len(x), x.device))

    def decode(self, z: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """z -> the decoder's mean image: Bernoulli probabilities, or the Gaussian mean."""
        return self.mean_image(self.decode_params(z, condition))

    def decode_params(self, z: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """z -> the decoder's output: Bernoulli logits, or the Gaussian mean (N x C x H x W)."""
        return self.decoder(z, self.onehot(condition, len(z), z.device))

    def forward(self, x: torch.Tensor, condition: Any = None, samples: int | None = None) -> VAEOutput:
        """One z per example (a draw in training mode, the mean in eval mode), or with `samples` that many draws
        each (z: samples x N x latent, params: samples x N x C x H x W; what objective=iwae trains on)."""
        onehot = self.onehot(condition, len(x), x.device)
        posterior = self.encoder(x, onehot)
        if samples is None:
            z = posterior.rsample() if self.training else posterior.mean
            return VAEOutput(posterior, z, self.decoder(z, onehot))
        z = posterior.rsample(samples=samples)
        params = self.decoder(z.flatten(0, 1), None if onehot is None else onehot.repeat(samples, 1))
        return VAEOutput(posterior, z, params.unflatten(0, (samples, len(x))))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None) -> torch.Tensor:
        """n images in [0, 1] from z ~ N(0, I); a conditional VAE without a condition cycles through its labels."""
        device = next(self.decoder.parameters()).device
        z = torch.randn(n, self.config.latent_size, generator=generator).to(device)
        if self.condition_type and condition is None:
            condition = torch.arange(n) % self.condition_classes
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
        return normal_log_prob(x, params, logvar.expand_as(params)).flatten(-3).sum(-1)

    def onehot(self, condition: Any, n: int, device: torch.device) -> torch.Tensor | None:
        """N x condition_classes one-hot labels for `condition` (one label for all, or n); None when unconditional."""
        k, who = self.condition_classes, getattr(self, "zoo_name", type(self).__name__)
        if not k:
            if condition is not None:
                raise ConfigError(f"{who} is not conditional; it takes no label")
            return None
        if condition is None:
            raise ConfigError(f"{who} is conditional: give a label (0 to {k - 1})")
        labels = torch.as_tensor(condition, dtype=torch.long).reshape(-1).to(device)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise ConfigError(f"{labels.numel()} labels for {n} examples")
        if labels.min() < 0 or labels.max() >= k:
            raise ConfigError(f"label {int(labels.max() if labels.max() >= k else labels.min())} is out of range "
                              f"({who} has labels 0 to {k - 1})")
        return F.one_hot(labels, k).to(torch.float32)

    # ------------------------------------------------------------ export

    def export_module(self) -> nn.Module:
        """What `zoo export` writes: the decoder, code (+ one-hot label) -> mean image."""
        return _DecoderExport(self.decoder, self.config.likelihood == "bernoulli")

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        inputs = {"code": torch.randn(batch_size, self.config.latent_size)}
        if self.condition_classes:
            labels = torch.arange(batch_size) % self.condition_classes
            inputs["label_onehot"] = F.one_hot(labels, self.condition_classes).to(torch.float32)
        return inputs


class _DecoderExport(nn.Module):
    def __init__(self, decoder: nn.Module, bernoulli: bool) -> None:
        super().__init__()
        self.decoder, self.bernoulli = decoder, bernoulli

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        params = self.decoder(z, onehot)
        return torch.sigmoid(params) if self.bernoulli else params
