"""What every GAN of this plugin shares: the config fields of the game, the generative surface,
and the two remedies that are parts of the model (minibatch discrimination, the EMA generator).

The surface the `adversarial` task trains through (documented in zoo/tasks/adversarial.py):

- `generator(z, c) -> B x C x H x W` in [-1, 1] (tanh); `c` is the label of a conditional
  model, MAD-GAN's generator index, or None.
- `discriminator(x, c) -> (logits B x O, features B x F)`; O = 1, or k + 1 for MAD-GAN;
  `features` is the last hidden layer, what feature matching compares.
- `game()`: the loss and update schedule, as plain values.

Users see `sample(n, generator=None, condition=None, truncation=None)`, images in [0, 1] (the
data's value range), and `render(z, labels=None)`, the same from given noise. `forward(x)` reads
images, as every zoo model's does: it is the discriminator's logits.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from pydantic import Field
from torch import nn

from zoo.config import ConfigError, ModelConfig, ZooConfig


class GameConfig(ModelConfig):
    """Fields every GAN family has: the images, the noise, the update ratio, the EMA copy."""

    image_size: int = Field(32, ge=1, description="Generated image height and width in pixels (the DCGAN networks are "
                                                  "sized for some; the fully connected ones take any, 1 px a point).")
    in_chans: int = Field(1, ge=1, description="Image channels (1 grey, 3 RGB).")
    latent_dim: int = Field(100, ge=1, description="Length of the noise vector z ~ N(0, I).")
    num_classes: int = Field(10, ge=1, description="Classes a conditional model's label picks from (ignored when unconditional).")
    d_steps: int = Field(1, ge=1, description="D (critic) updates per G update, each on its own slice of the batch: "
                                              "the D:G step ratio, WGAN's n_critic.")
    g_steps: int = Field(1, ge=1, description="G updates per batch (a 1:2 D:G ratio is d_steps=1, g_steps=2).")
    ema: float = Field(0.0, ge=0.0, lt=1.0, description="Decay of an exponential moving average of G's weights that "
                                                         "`sample` uses (0: none; 0.999 is common).")

    @property
    def condition_classes(self) -> int:
        """Classes a condition picks from (the contract's name); 0 when unconditional."""
        return self.num_classes if getattr(self, "conditional", False) else 0


class Remedies(ZooConfig):
    """Mode-collapse remedies for a discriminator with a sigmoid-style output (not for critics)."""

    minibatch_features: int = Field(0, ge=0, description="Minibatch discrimination (Salimans et al. 2016): number of "
                                                          "kernels B appended to D's last hidden layer (0: off).")
    feature_matching: bool = Field(False, description="G matches the mean of D's last hidden features on real data "
                                                      "instead of fooling D (Salimans et al. 2016).")
    unrolled_steps: int = Field(0, ge=0, description="G is trained against a copy of D advanced this many steps "
                                                     "(Metz et al. 2016; 0: off).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="One-sided label smoothing: D's target for "
                                                                    "real images is 1 - this (fakes stay 0).")


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights from N(0, 0.02); batch-norm scales from N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, section 3.2: each sample learns how close it is to the rest of its batch.

    f (N x A) -> M = f T (N x B x C); c_b(i, j) = exp(-||M_ib - M_jb||_1);
    o_b(i) = sum over j != i of c_b(i, j). Returns [f, o]: N x (A + B).
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)  # N x B x C
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # N x N x B
        o = torch.exp(-l1).sum(1) - 1.0  # N x B; the -1 drops c_b(i, i) = 1
        return torch.cat([f, o], 1)


class ToImage(nn.Module):
    """A generator with its output moved from tanh's [-1, 1] to the data's [0, 1]: what export writes."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return (self.generator(z, labels) + 1.0) / 2.0


class GAN(nn.Module):
    """Generator, discriminator and (with `ema` > 0) `generator_ema`, the copy `sample` uses."""

    def __init__(self, config: GameConfig, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.conditional = bool(getattr(config, "conditional", False))  # whether `condition` picks a class
        self.condition_type = "label" if self.conditional else None
        self.generator = generator
        self.discriminator = discriminator
        if config.ema:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        """Classes `condition` picks from; 0 for an unconditional model."""
        return self.config.num_classes if self.conditional else 0

    def game(self) -> dict[str, Any]:
        """How the adversarial task trains this model; fields a family lacks take their neutral value."""
        c = self.config
        return {"loss": getattr(c, "loss", "non_saturating"), "d_steps": c.d_steps, "g_steps": c.g_steps,
                "ema": c.ema, "clip_value": getattr(c, "clip_value", None),
                "gradient_penalty": getattr(c, "gradient_penalty", 0.0),
                "feature_matching": getattr(c, "feature_matching", False),
                "unrolled_steps": getattr(c, "unrolled_steps", 0),
                "label_smoothing": getattr(c, "label_smoothing", 0.0),
                "generators": getattr(c, "num_generators", 1)}

    def sampling_generator(self) -> nn.Module:
        return getattr(self, "generator_ema", self.generator)

    @torch.no_grad()
    def update_ema(self) -> None:
        """generator_ema <- decay * generator_ema + (1 - decay) * generator; buffers copied."""
        ema = getattr(self, "generator_ema", None)
        if ema is None:
            return
        for e, p in zip(ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1.0 - self.config.ema)
        for e, b in zip(ema.buffers(), self.generator.buffers()):
            e.copy_(b)

    def noise(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None) -> torch.Tensor:
        """n x latent_dim from N(0, I); with `truncation` T, each value redrawn until |z| <= T (Brock et al. 2018)."""
        z = torch.empty(n, self.latent_dim)
        if truncation is None:
            z.normal_(generator=generator)
        else:
            nn.init.trunc_normal_(z, 0.0, 1.0, -truncation, truncation, generator=generator)
        return z.to(self._device())

    def labels(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The class of each sample: `condition` (an int or n labels), else drawn uniformly; None if unconditional."""
        if not self.conditional:
            if condition is not None:
                raise ConfigError(f"{type(self).__name__} is unconditional; it takes no condition")
            return None
        if condition is None:
            return torch.randint(self.num_classes, (n,), generator=generator).to(self._device())
        labels = torch.as_tensor(condition, dtype=torch.long).reshape(-1).expand(n).to(self._device())
        if ((labels < 0) | (labels >= self.num_classes)).any():
            raise ConfigError(f"labels must be in 0..{self.num_classes - 1}")
        return labels

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None,
               truncation: float | None = None) -> torch.Tensor:
        """n images in [0, 1] from the EMA generator if there is one (call in eval mode)."""
        z = self.noise(n, generator, truncation)
        return self.render(z, self.labels(n, condition, generator))

    def render(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] from noise (and labels: a conditional model without them cycles through the classes)."""
        return (self.sampling_generator()(z, self._cycled(labels, len(z), z.device)) + 1.0) / 2.0

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The discriminator's logits for images in [-1, 1] (N x 1; MAD-GAN N x (k + 1)); `condition`: N labels."""
        return self.discriminator(x, self._cycled(condition, len(x), x.device))[0]

    def _cycled(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
        if self.conditional and labels is None:
            return torch.arange(n, device=device) % self.num_classes
        return labels

    def export_module(self) -> nn.Module:
        return ToImage(self.sampling_generator())

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        inputs = {"noise": torch.randn(batch_size, self.latent_dim)}
        if self.conditional:
            inputs["label"] = torch.randint(self.num_classes, (batch_size,))
        return inputs

    def _device(self) -> torch.device:
        return next(self.parameters()).device
