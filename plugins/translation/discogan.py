"""DiscoGAN: Learning to Discover Cross-Domain Relations with Generative Adversarial Networks (Kim et al., ICML 2017).

Two generators G_AB and G_BA and a discriminator per domain, trained on unpaired data. Each
direction has a GAN loss and a reconstruction loss: L_G_AB = L_GAN_B + L_CONST_A with
L_CONST_A = d(G_BA(G_AB(x_A)), x_A) (their eq. 3-4), and symmetrically for B; the generators'
total is L_G_AB + L_G_BA (eq. 5), the discriminators' L_D_A + L_D_B. The distance d is the mean
squared error (section 3, "a distance function such as MSE"). The GAN loss is the registered
objective `objective`, default non_saturating: their sigmoid cross-entropy with G maximising
log D(G(x)).

Networks (section 4 and their figure 2): G is an encoder-decoder, 4 x 4 stride-2 convs with
LeakyReLU 0.2 and batch norm (none on the first), then as many 4 x 4 stride-2 transposed convs
with batch norm and ReLU, tanh out; D is the encoder followed by a 4 x 4 conv to one logit (a
sigmoid in the loss). Scaled to 28 px:

| | paper, 64 px | here, 28 px | why |
| --- | --- | --- | --- |
| encoder | C64-C128-C256-C512 | C64-C128 (28 -> 14 -> 7) | 28 halves to an odd 7 |
| decoder | mirror of the encoder | T64 (7 -> 14), T-out (14 -> 28) | mirror of the encoder |
| D | C64-C128-C256-C512, conv to 1 | C64-C128, a 7 x 7 conv to 1 | one logit per image, as theirs |

Adam, lr 2e-4, betas (0.5, 0.999), weight decay 1e-5, batch 64 (their released code).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from zoo_plugins.translation.surface import (TranslationConfig, TranslationModel, d_loss, frozen, g_loss,
                                             step_jointly)


class DiscoGANConfig(TranslationConfig):
    chans_b: int = Field(3, ge=1, le=4, description="Domain B channels (1 grey, 3 RGB); MNIST-M is RGB.")
    objective: str = Field("non_saturating", description="The adversarial loss (`zoo list --objectives`); the "
                                                         "paper's is the sigmoid cross-entropy, non_saturating.")
    reconstruction_weight: float = Field(1.0, ge=0, description="Weight of each reconstruction MSE against its GAN "
                                                                "loss (1 in eq. 4).")

    def train_defaults(self) -> dict[str, Any]:
        return {"epochs": 4, "batch_size": 64, "optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999),
                "weight_decay": 1e-5, "scheduler": "constant", "warmup_epochs": 0.0, "log_every": 50}

    def data_defaults(self) -> dict[str, Any]:
        return {"name": "mnist-m"}


def _encoder(in_chans: int, base: int) -> list[nn.Module]:
    return [nn.Conv2d(in_chans, base, 4, 2, 1), nn.LeakyReLU(0.2),  # N x 64 x 14 x 14
            nn.Conv2d(base, base * 2, 4, 2, 1), nn.BatchNorm2d(base * 2), nn.LeakyReLU(0.2)]  # N x 128 x 7 x 7


class EncoderDecoder(nn.Module):
    def __init__(self, in_chans: int, out_chans: int, base: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_encoder(in_chans, base),
            nn.ConvTranspose2d(base * 2, base, 4, 2, 1), nn.BatchNorm2d(base), nn.ReLU(),  # N x 64 x 14 x 14
            nn.ConvTranspose2d(base, out_chans, 4, 2, 1), nn.Tanh())  # N x out x 28 x 28

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Critic(nn.Module):
    """The encoder and a conv over the whole 7 x 7 map: one logit per image (N x 1)."""

    def __init__(self, in_chans: int, base: int, size: int) -> None:
        super().__init__()
        side = (size // 2) // 2
        self.net = nn.Sequential(*_encoder(in_chans, base), nn.Conv2d(base * 2, 1, side), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DiscoGAN(TranslationModel):
    directions = ("ab", "ba")
    pairing = "unpaired"

    def __init__(self, config: DiscoGANConfig) -> None:
        super().__init__(config)
        base, ca, cb, s = config.channels(64), config.chans_a, config.chans_b, config.image_size
        self.generator_ab = EncoderDecoder(ca, cb, base)
        self.generator_ba = EncoderDecoder(cb, ca, base)
        self.discriminator_a = Critic(ca, base, s)
        self.discriminator_b = Critic(cb, base, s)
        self._objective = self.objective()

    def translation_step(self, a: torch.Tensor, b: torch.Tensor, modules: dict[str, nn.Module],
                         stepper: Any) -> dict[str, torch.Tensor]:
        objective, w = self._objective, self.config.reconstruction_weight
        g_ab, g_ba, d_a, d_b = (modules[n] for n in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        loss_db, metrics_b = d_loss(objective, d_b, b, fake_b)
        stepper.step(loss_db, "discriminator_b")
        loss_da, _ = d_loss(objective, d_a, a, fake_a)
        stepper.step(loss_da, "discriminator_a")
        with frozen(self.discriminator_a, self.discriminator_b):
            adversarial = g_loss(objective, d_b, fake_b, real=b) + g_loss(objective, d_a, fake_a, real=a)
            reconstruction = (g_ba(fake_b) - a).square().mean() + (g_ab(fake_a) - b).square().mean()
            loss = adversarial + w * reconstruction
            step_jointly(loss, ("generator_ab", "generator_ba"), modules, stepper, getattr(stepper, "clip", None))
        return {"loss": loss.detach(), "g_adv": adversarial.detach(), "reconstruction": reconstruction.detach(),
                "d_loss_a": loss_da.detach(), "d_loss_b": loss_db.detach(),
                "d_real_b": metrics_b["d_real"], "d_fake_b": metrics_b["d_fake"]}
