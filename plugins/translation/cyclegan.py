"""CycleGAN: Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks (Zhu et al., ICCV 2017).

Two generators, G: A -> B and F: B -> A, each against its own discriminator, tied by cycle
consistency: F(G(a)) ~ a and G(F(b)) ~ b in L1, weight lambda = 10 (eq. 3). The adversarial loss
is least squares (section 4, "we replace the negative log likelihood objective by a least-squares
loss"), the registered objective `least_squares`; D's loss is halved and D sees fakes from a
history of the 50 latest generated images (section 4, blocks.ImagePool). The identity loss
||G(b) - b||_1 + ||F(a) - a||_1 at 0.5 x lambda (section 5.2, photo -> painting) applies where both
domains have one shape: MNIST -> MNIST-M maps 1 channel to 3, where G(b) is not defined, so there
it is left out.

G is Johnson et al.'s network (appendix 7.2): c7s1-64, d128, d256, R256 x 6 (128 px) or x 9
(256 px), u128, u64, c7s1-3, instance norm and ReLU, reflection padding. D is the 70 x 70 PatchGAN
with instance norm. Scaled to 28-32 px:

| | paper | here | why |
| --- | --- | --- | --- |
| G widths | 64 (c7s1), 128, 256 | 16, 32, 64 | CPU: the paper's widths train at 4 images/s on one core here, these at ~22 |
| residual blocks | 6 at 128 px, 9 at 256 px | 3 at 7 x 7 | the same trade; `blocks=6` restores the paper's count |
| D | 70 x 70 PatchGAN | C64-C128 PatchGAN, 6 x 6 outputs seeing 22 px | the deeper layers would see past the image |
| batch | 1 | 16 | CPU throughput (instance norm, so the batch size does not change the normalisation) |
| lr schedule | 2e-4 for 100 epochs, then linear to 0 over 100 | 2e-4, then timm's WSD decay (1 - sqrt) to 0 over the last half | the engine's schedules are timm's; its WSD is the constant-then-decay shape, its decay curve not a config field |

Adam, lr 2e-4, betas (0.5, 0.999) as the paper.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from zoo_plugins.translation.blocks import ImagePool, PatchGAN
from zoo_plugins.translation.surface import (TranslationConfig, TranslationModel, d_loss, frozen, g_loss,
                                             step_jointly)


class CycleGANConfig(TranslationConfig):
    chans_b: int = Field(3, ge=1, le=4, description="Domain B channels (1 grey, 3 RGB); MNIST-M is RGB.")
    objective: str = Field("least_squares", description="The adversarial loss (`zoo list --objectives`); the "
                                                        "paper's is least squares.")
    cycle_weight: float = Field(10.0, ge=0, description="lambda, the weight of the cycle-consistency L1 (eq. 3).")
    identity_weight: float = Field(0.5, ge=0, description="The identity loss's weight as a multiple of lambda "
                                                          "(applies where A and B have one shape).")
    blocks: int = Field(3, ge=1, le=16, description="Residual blocks at the generators' lowest resolution.")
    pool_size: int = Field(50, ge=0, description="History of generated images each D is shown (0: the newest only).")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the objective.")

    objective_options: ClassVar[tuple[str, ...]] = ("label_smoothing",)

    def train_defaults(self) -> dict[str, Any]:
        return {"epochs": 4, "batch_size": 16, "optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999),
                "weight_decay": 0.0, "scheduler": "wsd", "decay_epochs": 0.5, "warmup_epochs": 0.0, "log_every": 50}

    def data_defaults(self) -> dict[str, Any]:
        return {"name": "mnist-m"}


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _norm_act(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, affine=True), nn.ReLU()]


class ResNetGenerator(nn.Module):
    """c7s1-k, d2k, d4k, R4k x blocks, u2k, uk, c7s1-out: in_chans x S x S -> out_chans x S x S on [-1, 1]."""

    def __init__(self, in_chans: int, out_chans: int, base: int, blocks: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_chans, base, 7), *_norm_act(base),  # N x k x 28 x 28
            nn.Conv2d(base, base * 2, 3, 2, 1), *_norm_act(base * 2),  # N x 2k x 14 x 14
            nn.Conv2d(base * 2, base * 4, 3, 2, 1), *_norm_act(base * 4),  # N x 4k x 7 x 7
            *[ResidualBlock(base * 4) for _ in range(blocks)],
            nn.ConvTranspose2d(base * 4, base * 2, 3, 2, 1, output_padding=1), *_norm_act(base * 2),  # N x 2k x 14 x 14
            nn.ConvTranspose2d(base * 2, base, 3, 2, 1, output_padding=1), *_norm_act(base),  # N x k x 28 x 28
            nn.ReflectionPad2d(3), nn.Conv2d(base, out_chans, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CycleGAN(TranslationModel):
    directions = ("ab", "ba")
    pairing = "unpaired"

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__(config)
        base, ca, cb = config.channels(16), config.chans_a, config.chans_b
        self.generator_ab = ResNetGenerator(ca, cb, base, config.blocks)
        self.generator_ba = ResNetGenerator(cb, ca, base, config.blocks)
        self.discriminator_a = PatchGAN(ca, config.channels(64), norm="instance")
        self.discriminator_b = PatchGAN(cb, config.channels(64), norm="instance")
        self._objective = self.objective()
        self.pools = {"a": ImagePool(config.pool_size), "b": ImagePool(config.pool_size)}

    def translation_step(self, a: torch.Tensor, b: torch.Tensor, modules: dict[str, nn.Module],
                         stepper: Any) -> dict[str, torch.Tensor]:
        cfg, objective = self.config, self._objective
        g_ab, g_ba, d_a, d_b = (modules[n] for n in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        loss_db, metrics_b = d_loss(objective, d_b, b, self.pools["b"].query(fake_b))
        stepper.step(0.5 * loss_db, "discriminator_b")
        loss_da, metrics_a = d_loss(objective, d_a, a, self.pools["a"].query(fake_a))
        stepper.step(0.5 * loss_da, "discriminator_a")
        with frozen(self.discriminator_a, self.discriminator_b):
            adversarial = g_loss(objective, d_b, fake_b, real=b) + g_loss(objective, d_a, fake_a, real=a)
            cycle = (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()
            loss = adversarial + cfg.cycle_weight * cycle
            metrics = {}
            if cfg.identity_weight and cfg.chans_a == cfg.chans_b:
                identity = (g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean()
                loss = loss + cfg.identity_weight * cfg.cycle_weight * identity
                metrics["identity"] = identity.detach()
            step_jointly(loss, ("generator_ab", "generator_ba"), modules, stepper, getattr(stepper, "clip", None))
        return {"loss": loss.detach(), "g_adv": adversarial.detach(), "cycle": cycle.detach(), **metrics,
                "d_loss_a": loss_da.detach(), "d_loss_b": loss_db.detach(),
                "d_real_b": metrics_b["d_real"], "d_fake_b": metrics_b["d_fake"]}
