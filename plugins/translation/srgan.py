"""SRGAN and SRResNet: Photo-Realistic Single Image Super-Resolution Using a GAN (Ledig et al., CVPR 2017).

The generator is SRResNet (their figure 4): a 9 x 9 conv and PReLU, B residual blocks (3 x 3 conv,
batch norm, PReLU, 3 x 3 conv, batch norm, skip), a 3 x 3 conv and batch norm joined to the first
layer's output, two sub-pixel upsampling stages (3 x 3 conv to 4x the channels, PixelShuffle(2),
PReLU) for x4, and a 9 x 9 conv out. SRResNet is trained on pixel MSE alone; SRGAN on the
perceptual loss: a content loss, the MSE between feature maps of a pretrained network on the
super-resolved and the HR image (their VGG54), plus 10^-3 times the adversarial loss (eq. 3). D is
their VGG-style network: 3 x 3 convs doubling from 64, stride 2 every second, batch norm and
LeakyReLU 0.2, then dense 1024 and one logit.

The content network is the zoo's own: `lenet5.mnist` for digits (the output of its convolutional
`features`, the last conv map as VGG54 is VGG's), or for CIFAR-10 a classic CNN the zoo trained on
it (`content_network` names its bundle, e.g. a run of `zoo train nin --data cifar10`). Scaled to
7 -> 28 px (MNIST) and 8 -> 32 px (CIFAR-10):

| | paper, 24 -> 96 px | here | why |
| --- | --- | --- | --- |
| G | 64 channels, B = 16 blocks | 64 channels, B = 8 | on 7 x 7 inputs half the blocks see the whole image already |
| D | C64 ... C512 (8 convs), dense 1024 | C64-C64/2-C128-C128/2-C256-C256/2, dense 1024 | 28 px halves three times to 4 |
| content | VGG19's conv5_4 | lenet5.mnist's conv features | VGG on ImageNet does not see digits; the zoo's LeNet does |
| output | linear | tanh | the zoo's images are fed on [-1, 1] |
| init | SRGAN from a trained SRResNet | from scratch, or `--init-from` an srresnet bundle (theirs) | both are a flag away |

Adam, lr 1e-4, betas (0.9, 0.999) as the paper. `baseline` is bicubic upsampling.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from zoo_plugins.translation.surface import TranslationConfig, TranslationModel, d_loss, frozen, g_loss

# variant -> (adversarial weight, content loss); SRResNet is SRGAN's generator on pixel MSE alone
VARIANTS = {"srgan": (1e-3, "features"), "srresnet": (0.0, "pixels")}


class SRGANConfig(TranslationConfig):
    variant: Literal["srgan", "srresnet"] = Field("srgan", description="srgan: content + 1e-3 adversarial; "
                                                                        "srresnet: pixel MSE only, no D.")
    image_size: int = Field(7, ge=2, le=256, description="LR (domain A) side; the output is 4x as large.")
    objective: str = Field("non_saturating", description="The adversarial loss (`zoo list --objectives`); the "
                                                         "paper's is the log loss with G maximising log D.")
    blocks: int = Field(8, ge=1, le=32, description="Residual blocks B (the paper: 16).")
    content_network: str = Field("lenet5.mnist", description="Classifier bundle or tag whose conv `features` "
                                                             "give the content loss (srgan).")

    scale: ClassVar[int] = 4

    @property
    def adversarial_weight(self) -> float:
        return VARIANTS[self.variant][0]

    def train_defaults(self) -> dict[str, Any]:
        return {"epochs": 3, "batch_size": 64, "optimizer": "adam", "lr": 1e-4, "betas": (0.9, 0.999),
                "weight_decay": 0.0, "scheduler": "constant", "warmup_epochs": 0.0, "log_every": 50}

    def data_defaults(self) -> dict[str, Any]:
        return {"name": "mnist-x4"}


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c), nn.PReLU(c),
                                  nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """in_chans x S x S -> out_chans x 4S x 4S on [-1, 1]."""

    def __init__(self, in_chans: int, out_chans: int, c: int, blocks: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(in_chans, c, 9, 1, 4), nn.PReLU(c))  # N x 64 x 7 x 7
        self.body = nn.Sequential(*[Residual(c) for _ in range(blocks)], nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c))
        self.up = nn.Sequential(*[m for _ in range(2) for m in (nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2),
                                                                   nn.PReLU(c))])  # N x 64 x 28 x 28
        self.tail = nn.Sequential(nn.Conv2d(c, out_chans, 9, 1, 4), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.tail(self.up(h + self.body(h)))


class VGGCritic(nn.Module):
    def __init__(self, in_chans: int, c: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for i, (w, stride) in enumerate([(c, 1), (c, 2), (2 * c, 1), (2 * c, 2), (4 * c, 1), (4 * c, 2)]):
            layers += [nn.Conv2d(cin, w, 3, stride, 1), *([nn.BatchNorm2d(w)] if i else []), nn.LeakyReLU(0.2)]
            cin = w
            if stride == 2:
                size = (size + 1) // 2
        self.features = nn.Sequential(*layers)  # N x 256 x 4 x 4 at 28 px
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * size * size, 1024), nn.LeakyReLU(0.2),
                                  nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SRGAN(TranslationModel):
    directions = ("ab",)
    pairing = "paired"

    def __init__(self, config: SRGANConfig) -> None:
        super().__init__(config)
        chans_b, side = config.chans_b, config.image_size * config.scale
        self.generator_ab = SRResNet(config.chans_a, chans_b, config.channels(64), config.blocks)
        self.discriminator_b = VGGCritic(chans_b, config.channels(64), side) if config.adversarial_weight else None
        self._objective = self.objective()

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic x4 upsampling of [-1, 1] LR images."""
        return F.interpolate(x, scale_factor=self.config.scale, mode="bicubic", align_corners=False).clamp(-1, 1)

    def content(self, x: torch.Tensor) -> torch.Tensor:
        """The content network's conv feature map of [-1, 1] images, as it was trained to see them."""
        net, (side, mean, std) = self._content_network(x.device)
        from zoo.data.transforms import match_channels

        y = x.add(1).div(2)
        pad = (side - y.shape[-1]) // 2
        y = match_channels(F.pad(y, [pad] * 4) if pad > 0 else y, len(mean))
        return net.features((y - mean) / std)

    def _content_network(self, device: torch.device) -> tuple[nn.Module, tuple[int, torch.Tensor, torch.Tensor]]:
        held = self.__dict__.get("_content")  # outside the module tree: frozen, not in the bundle
        if held is None or held[0].device != device:
            import zoo

            with torch.random.fork_rng(devices=[]):
                net = zoo.from_pretrained(self.config.content_network).eval().to(device)
            for p in net.parameters():
                p.requires_grad_(False)
            pre = net.zoo_bundle.preprocessing if net.zoo_bundle is not None else None
            mean = torch.tensor(pre.mean if pre is not None and pre.mean else (0.5,), device=device).view(1, -1, 1, 1)
            std = torch.tensor(pre.std if pre is not None and pre.std else (0.5,), device=device).view(1, -1, 1, 1)
            held = (mean, net, net.zoo_config.image_size, std)
            self.__dict__["_content"] = held
        mean, net, side, std = held
        return net, (side, mean, std)

    def translation_step(self, a: torch.Tensor, b: torch.Tensor, modules: dict[str, nn.Module],
                         stepper: Any) -> dict[str, torch.Tensor]:
        g, weight = modules["generator_ab"], self.config.adversarial_weight
        fake = g(a)
        metrics: dict[str, torch.Tensor] = {}
        if not weight:  # SRResNet
            mse = (fake - b).square().mean()
            stepper.step(mse, "generator_ab")
            return {"loss": mse.detach(), "mse": mse.detach()}
        d = modules["discriminator_b"]
        loss_d, metrics = d_loss(self._objective, d, b, fake)
        stepper.step(loss_d, "discriminator_b")
        with frozen(self.discriminator_b):
            content = (self.content(fake) - self.content(b).detach()).square().mean()
            adversarial = g_loss(self._objective, d, fake, real=b)
            loss = content + weight * adversarial
            stepper.step(loss, "generator_ab")
        return {"loss": loss.detach(), "content": content.detach(), "g_adv": adversarial.detach(),
                "mse": (fake.detach() - b).square().mean(), "d_loss": loss_d.detach(), **metrics}
