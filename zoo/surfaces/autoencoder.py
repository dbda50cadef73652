"""What an autoencoder provides for the `autoencoding` task, and a base class that provides most of it.

The task (zoo/tasks/autoencoding.py) calls, on the model:

- `forward(x) -> AutoencoderOutput(code, logits, reconstruction)`: x is N x C x H x W in [0, 1];
  `logits` are the decoder's output before the sigmoid (BCE is computed on them);
- `encode(x) -> N x code_size` codes and `decode(z) -> images in [0, 1]`;
- `fit_prior(codes)`: fit the Gaussian over codes that `sample` draws from (called after every
  evaluation with that split's codes; an autoencoder has no prior of its own);
- `sample(n, generator=None, condition=None) -> n images in [0, 1]` (`condition` is refused by an
  unconditional model with a `zoo.errors.ZooError`);
- `zoo_config.recon_loss` ("bce" or "mse") and `zoo_config.input_shape()`.

`Autoencoder` below implements all of that from two modules, an encoder (image -> code) and a
decoder (code -> logits). It keeps the fitted Gaussian in the decoder's buffers `code_mean` and
`code_std`, so the decoder's tensors alone sample; `zoo export` writes the decoder and a
sigmoid: `code` -> image. A denoising model overrides `corrupt(x)`, applied in training mode only::

    from pydantic import Field
    from torch import nn
    from zoo.surfaces.autoencoder import Autoencoder, AutoencoderConfigBase

    class TinyAEConfig(AutoencoderConfigBase):
        in_chans: int = Field(1, description="Image channels.")
        image_size: int = Field(28, description="Image side in pixels.")

    class TinyAE(Autoencoder):
        def __init__(self, config: TinyAEConfig) -> None:
            pixels = config.in_chans * config.image_size ** 2
            encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, config.code_size))
            decoder = nn.Sequential(nn.Linear(config.code_size, pixels), nn.Unflatten(1, config.input_shape()))
            super().__init__(config, encoder, decoder)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from zoo.config import ConfigError, ModelConfig

__all__ = ["Autoencoder", "AutoencoderConfigBase", "AutoencoderOutput"]


class AutoencoderConfigBase(ModelConfig):
    """The config fields the autoencoding task and `Autoencoder` read; a family's config adds its own."""

    code_size: int = Field(32, ge=1, description="Size of the code.")
    recon_loss: Literal["bce", "mse"] = Field("bce", description="Reconstruction loss against the clean image in "
                                                                 "[0, 1].")


@dataclass
class AutoencoderOutput:
    code: torch.Tensor            # N x code_size
    logits: torch.Tensor          # N x C x H x W, before the sigmoid (BCE is computed on logits for stability)
    reconstruction: torch.Tensor  # N x C x H x W in [0, 1]


class Autoencoder(nn.Module):
    """An autoencoder from its config, an encoder (image -> code) and a decoder (code -> logits)."""

    required: ClassVar[tuple[str, ...]] = ("zoo_config.input_shape", "zoo_config.recon_loss", "encode", "decode",
                                           "fit_prior", "sample")
    export_hooks: ClassVar[tuple[str, ...]] = ("export_module", "export_inputs")
    export_output: ClassVar[str] = "image"  # the exported graph maps a code to an image in [0, 1]
    value_range = (0.0, 1.0)

    def __init__(self, config: AutoencoderConfigBase, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.decoder = decoder
        decoder.register_buffer("code_mean", torch.zeros(config.code_size))
        decoder.register_buffer("code_std", torch.ones(config.code_size))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes -> images in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        code = self.encoder(self.corrupt(x) if self.training else x)
        logits = self.decoder(code)
        return AutoencoderOutput(code, logits, torch.sigmoid(logits))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The input corruption of a denoising autoencoder, in training mode only; none here."""
        return x

    @torch.no_grad()
    def fit_prior(self, codes: torch.Tensor) -> None:
        """Fit the diagonal Gaussian `sample` draws codes from (N x code_size codes)."""
        self.decoder.code_mean.copy_(codes.mean(0))
        self.decoder.code_std.copy_(codes.std(0, unbiased=False) if len(codes) > 1 else torch.ones_like(codes[0]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None) -> torch.Tensor:
        """n images in [0, 1] decoded from codes drawn from the fitted Gaussian (n x C x H x W)."""
        if condition is not None:
            who = getattr(self, "zoo_name", type(self).__name__)
            raise ConfigError(f"{who} is not conditional; it takes no condition")
        d = self.decoder
        eps = torch.randn(n, d.code_mean.numel(), generator=generator).to(d.code_mean.device)
        return self.decode(d.code_mean + d.code_std * eps)

    def export_module(self) -> nn.Module:
        """What `zoo export` writes: the decoder, code -> image in [0, 1]."""
        return nn.Sequential(self.decoder, nn.Sigmoid())

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        return {"code": torch.randn(batch_size, self.config.code_size)}
