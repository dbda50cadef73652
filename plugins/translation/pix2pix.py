"""pix2pix: Image-to-Image Translation with Conditional Adversarial Networks (Isola et al., CVPR 2017).

A conditional GAN on paired data: G maps an input x to an output y, a PatchGAN D judges (x, y)
pairs patch by patch, and G's loss adds lambda * L1(G(x), y) to the adversarial term, lambda = 100
(their eq. 4). Noise is dropout only (section 3.1: "we provide noise only in the form of dropout").

G is their U-Net (section 3.2.1, appendix 6.1.1): encoder C64-C128-...-C512 of 4 x 4 stride-2
convs (LeakyReLU 0.2, batch norm but on the first and innermost), a decoder of stride-2 transposed
convs (ReLU, batch norm, dropout 0.5 on the first layers), each decoder layer concatenated with the
mirrored encoder layer. What is kept at 28-32 px, and why:

| | paper, 256 px | here, 28 px | why |
| --- | --- | --- | --- |
| encoder | C64-C128-C256-C512 x 5 (8 levels, to 1 x 1) | C64-C128-C256 (3 levels: 28 -> 14 -> 7 -> 4) | 28 halves to an odd 7; a 4 x 4 core sees the whole image |
| kernels | 4 x 4 | 4 x 4, 3 x 3 where the side is odd (7 -> 4 -> 7) | a 4 x 4 stride-2 conv cannot invert 7 -> 4 |
| dropout | 0.5 on the first 3 of 8 decoder layers | 0.5 on the first 2 of 3 | the same share of the decoder |
| D | 70 x 70 PatchGAN (C64-C128-C256-C512) | C64-C128 PatchGAN, 6 x 6 outputs seeing 22 px (blocks.py) | the deeper layers would see past the image |
| batch | 1 (instance-norm-like) | 64 | CPU throughput; batch norm then normalises over a batch, as their batch-size > 1 runs |
| dropout at test time | kept (their noise) | off (eval mode): `translate` is a function of its input | the contract checks translations are deterministic |

Optimiser as the paper: Adam, lr 2e-4, betas (0.5, 0.999); D's loss halved (section 3.3). The
adversarial loss is the registered objective `objective` (default non_saturating, their log loss
with G maximising log D, section 3.3).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from zoo_plugins.translation.blocks import PatchGAN
from zoo_plugins.translation.surface import TranslationConfig, TranslationModel, d_loss, frozen, g_loss


class Pix2PixConfig(TranslationConfig):
    objective: str = Field("non_saturating", description="The adversarial loss (`zoo list --objectives`); the "
                                                         "paper's is the log loss, non_saturating.")
    l1_weight: float = Field(100.0, ge=0, description="lambda, the weight of L1(G(x), y) (eq. 4).")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout of the first decoder layers: G's noise.")
    levels: int = Field(3, ge=1, le=8, description="U-Net levels (stride-2 convs); 3 takes 28 px to 4 x 4.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="One-sided label smoothing of the log loss.")

    objective_options: ClassVar[tuple[str, ...]] = ("label_smoothing",)

    def train_defaults(self) -> dict[str, Any]:
        return {"epochs": 5, "batch_size": 64, "optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999),
                "weight_decay": 0.0, "scheduler": "constant", "warmup_epochs": 0.0, "log_every": 50}

    def data_defaults(self) -> dict[str, Any]:
        return {"name": "edges2fashion"}


def _sides(size: int, levels: int) -> list[int]:
    sides = [size]
    for _ in range(levels):
        sides.append((sides[-1] + 1) // 2)  # 4 x 4 stride 2 on an even side, 3 x 3 on an odd one: ceil(side / 2)
    return sides


def _kernel(side: int) -> int:
    return 4 if side % 2 == 0 else 3


class UNet(nn.Module):
    """in_chans x S x S on [-1, 1] -> out_chans x S x S on [-1, 1]; skips join each decoder layer to its mirror."""

    def __init__(self, in_chans: int, out_chans: int, size: int, widths: list[int], dropout: float) -> None:
        super().__init__()
        sides, levels = _sides(size, len(widths)), len(widths)
        self.down = nn.ModuleList()
        c = in_chans
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [nn.LeakyReLU(0.2)] if i else []  # the paper's blocks open with the activation
            layers.append(nn.Conv2d(c, w, _kernel(sides[i]), 2, 1))
            if 0 < i < levels - 1:  # no batch norm on the outermost and innermost layers (their code)
                layers.append(nn.BatchNorm2d(w))
            self.down.append(nn.Sequential(*layers))  # N x w x sides[i + 1] x sides[i + 1]
            c = w
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            inner = i == levels - 1
            cin = widths[i] if inner else widths[i] * 2  # the innermost has no skip to join
            cout = widths[i - 1] if i else out_chans
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, _kernel(sides[i]), 2, 1)]  # -> sides[i]
            if i:
                layers.append(nn.BatchNorm2d(cout))
                if levels - 1 - i < 2:
                    layers.append(nn.Dropout(dropout))
            else:
                layers.append(nn.Tanh())
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the innermost output is x itself
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([skips.pop(), x], 1)
        return x


class Pix2Pix(TranslationModel):
    directions = ("ab",)
    pairing = "paired"

    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__(config)
        widths = [config.channels(64 * 2 ** min(i, 3)) for i in range(config.levels)]  # 64, 128, 256, 512, 512...
        self.generator_ab = UNet(config.chans_a, config.chans_b, config.image_size, widths, config.dropout)
        self.discriminator_b = PatchGAN(config.chans_a + config.chans_b, config.channels(64), norm="batch")
        self._objective = self.objective()

    def translation_step(self, a: torch.Tensor, b: torch.Tensor, modules: dict[str, nn.Module],
                         stepper: Any) -> dict[str, torch.Tensor]:
        g, d, objective = modules["generator_ab"], modules["discriminator_b"], self._objective
        fake = g(a)
        loss_d, metrics = d_loss(objective, d, b, fake, condition=a)
        loss_d = 0.5 * loss_d  # "we divide the objective by 2 while optimizing D" (section 3.3)
        stepper.step(loss_d, "discriminator_b")
        with frozen(self.discriminator_b):
            adversarial = g_loss(objective, d, fake, condition=a, real=b)
            l1 = (fake - b).abs().mean()
            loss_g = adversarial + self.config.l1_weight * l1
            stepper.step(loss_g, "generator_ab")
        return {"loss": loss_g.detach(), "g_adv": adversarial.detach(), "l1": l1.detach(), "d_loss": loss_d.detach(),
                **metrics}
