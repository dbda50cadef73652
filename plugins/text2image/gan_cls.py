"""GAN-CLS and GAN-INT: a text-conditioned DCGAN.

S. Reed, Z. Akata, X. Yan, L. Logeswaran, B. Schiele, H. Lee. "Generative Adversarial Text to
Image Synthesis." ICML 2016 (arXiv:1605.05396).

G: the text embedding phi(t) -> Linear to 128 -> LeakyReLU(0.2), concatenated with z ~ N(0, I);
then DCGAN's generator (project to 4 x 4, transposed convs 4/2 with batch norm and ReLU, tanh).
D: DCGAN's strided convs (LeakyReLU 0.2, batch norm but on the input layer) down to 4 x 4; the
embedding, projected to 128 the same way, is replicated over the 4 x 4 grid and concatenated
with the conv features, then a 1 x 1 conv and a 4 x 4 conv give one logit (section 4.1).

Training (the `text-to-image` task: the adversarial schedule, captions as the condition):
- GAN-CLS, the matching-aware discriminator (algorithm 1): (real image, right text) is real;
  (real image, wrong text) and (fake image, right text) are fake, weighted 1/2 each (the log-loss
  objectives read the wrong pairs `mismatched` gives: captions naming another digit);
- GAN-INT: G is also trained on embeddings interpolated between two captions of the batch,
  beta t1 + (1 - beta) t2 with beta = 0.5 (section 4.3; `interpolated`); D never sees those.

Deviations, and why: the paper's encoder is a char-CNN-RNN pretrained on the images' captions
with a joint embedding loss; here the default is a frozen pretrained sentence encoder
(all-MiniLM-L6-v2), and the fallback `char_cnn` encoder is trained end to end inside D with the
matching-aware loss (D's optimizer updates it; G reads its output without a gradient). Images
are 32 px (MNIST padded) with width 16 instead of 64 px with width 64, sized for CPU training.
Networks and text encoders are from the same built-in plugin; the surface is the public
`zoo.surfaces.gan.TextGANSurface`.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from zoo.surfaces.gan import TextGANSurface
from zoo_plugins.gans.base import GameConfig, dcgan_init

BASE = 4  # side of G's first feature map and of D's last


class GANCLSConfig(GameConfig):
    width: int = Field(16, ge=4, description="Channels of G's last hidden layer and D's first; doubled at each coarser "
                                             "scale (the paper's 64 px model has 64; 16 is sized for a shared CPU).")
    text_encoder: str = Field("all_minilm_l6_v2", description="Text encoder registry entry: all_minilm_l6_v2 "
                                                              "(pretrained, frozen) or char_cnn (trained with D).")
    text_projection: int = Field(128, ge=1, description="Width the embedding is compressed to in G and D (paper: 128).")
    matching_aware: bool = Field(True, description="GAN-CLS: D also learns that real images with wrong text are fake.")
    interpolation: float | None = Field(0.5, gt=0.0, lt=1.0, description="GAN-INT's beta: G is also trained on "
                                                                           "beta t1 + (1 - beta) t2 (None: off).")

    @field_validator("image_size")
    @classmethod
    def _sized(cls, v: int) -> int:
        if v not in (32, 64):
            raise ValueError(f"gan_cls is sized for 32 or 64 pixels, not {v}")
        return v

    def train_defaults(self) -> dict[str, Any]:
        """The paper's recipe: Adam 2e-4, beta1 0.5, batch 64, constant lr; 6 epochs of mnist-captions (about 15
        minutes on one CPU core), after which lenet5.mnist agrees with the prompt's digit on 95% of samples."""
        return {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "batch_size": 64,
                "scheduler": "none", "warmup_epochs": 0.0, "epochs": 6}

    def data_defaults(self) -> dict[str, Any]:
        return {"name": "mnist-captions"}

    @property
    def mismatches(self) -> bool:
        return self.matching_aware


def _ups(image_size: int) -> int:
    return {32: 3, 64: 4}[image_size]


def _projection(dim: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, width), nn.LeakyReLU(0.2, inplace=True))


class TextGenerator(nn.Module):
    """(z, phi(t)) -> image in [-1, 1]."""

    def __init__(self, c: GANCLSConfig, text_dim: int) -> None:
        super().__init__()
        ups = _ups(c.image_size)
        self.top = c.width * 2 ** (ups - 1)
        self.text = _projection(text_dim, c.text_projection)  # N x 128
        self.project = nn.Sequential(  # N x top*4*4
            nn.Linear(c.latent_dim + c.text_projection, self.top * BASE ** 2, bias=False),
            nn.BatchNorm1d(self.top * BASE ** 2), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        ch = self.top
        for _ in range(ups - 1):  # N x ch x s x s -> N x ch/2 x 2s x 2s
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c.in_chans, 4, 2, 1), nn.Tanh()]  # N x C x side x side
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.text(text)], 1)).view(-1, self.top, BASE, BASE)
        return self.body(h)


class TextDiscriminator(nn.Module):
    """(image, phi(t)) -> (logit N x 1, features N x F); holds the text encoder (trained with D when it trains)."""

    def __init__(self, c: GANCLSConfig, text_encoder: nn.Module) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch = c.in_chans, c.width
        for i in range(_ups(c.image_size)):  # N x ch_in x s x s -> N x ch x s/2 x s/2
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=i == 0))
            if i > 0:  # no batch norm on the input layer (DCGAN)
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers)  # N x top x 4 x 4
        self.text = _projection(text_encoder.dim, c.text_projection)  # N x 128, replicated to N x 128 x 4 x 4
        self.joint = nn.Sequential(  # N x top x 4 x 4
            nn.Conv2d(ch_in + c.text_projection, ch_in, 1, bias=False), nn.BatchNorm2d(ch_in), nn.LeakyReLU(0.2, inplace=True))
        self.head = nn.Conv2d(ch_in, 1, BASE)  # N x 1 x 1 x 1
        dcgan_init(self)
        self.text_encoder = text_encoder  # after dcgan_init: a pretrained encoder keeps its own weights

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        t = self.text(text)[:, :, None, None].expand(-1, -1, *h.shape[2:])
        h = self.joint(torch.cat([h, t], 1))
        return self.head(h).flatten(1), h.flatten(1)


class GANCLS(TextGANSurface):
    """G, D (with the text encoder) and the prompt-taking surface: `sample(n, condition="a thin eight")`."""

    def __init__(self, config: GANCLSConfig) -> None:
        from zoo.text import load_text_encoder

        encoder = load_text_encoder(config.text_encoder)
        super().__init__(config, TextGenerator(config, encoder.dim), TextDiscriminator(config, encoder))
        self._digits: torch.Tensor | None = None  # the digit each caption id names

    @property
    def text_encoder(self) -> nn.Module:
        return self.discriminator.text_encoder

    def prompts_for(self, n: int, generator: torch.Generator | None = None) -> list[str]:
        """Random captions of the kind mnist-captions trains on."""
        from zoo.data.captions import random_captions

        return random_captions(n, generator)[0]

    @staticmethod
    def check_prompts(prompts: list[str]) -> None:
        check_prompts(prompts)

    def set_captions(self, vocabulary: list[str], training_ids: torch.Tensor | None = None) -> None:
        from zoo.data.captions import named_digit

        fresh = self._vocabulary != list(vocabulary)
        super().set_captions(vocabulary, training_ids)
        if fresh:
            self._digits = torch.tensor([named_digit(c) for c in vocabulary], device=self._device())

    def mismatched(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """For each caption, a caption of the batch that names another digit (a roll by one where none does).

        Reed et al. take any other caption of the batch; on digits one in ten would name the same
        digit with the same words, and teach D that a matching pair is a mismatch.
        """
        if condition is None or not self.config.matching_aware:
            return None
        digits = self._digits[condition]
        out = condition.roll(1, 0)
        for shift in range(len(condition) - 1, 0, -1):  # the smallest shift that names another digit wins
            rolled = condition.roll(shift, 0)
            out = torch.where(digits != self._digits[rolled], rolled, out)
        return out

    def interpolated(self, encoded: torch.Tensor | None) -> torch.Tensor | None:
        """GAN-INT: beta t1 + (1 - beta) t2 for each embedding and the batch's next, which D has no real pair for."""
        beta = self.config.interpolation
        if beta is None or encoded is None:
            return None
        return beta * encoded + (1.0 - beta) * encoded.roll(1, 0)

    def render(self, z: torch.Tensor, labels: Any = None) -> torch.Tensor:
        """Images in [0, 1] from noise and text (embeddings or prompts; none: the ten digits' names in turn)."""
        text = labels if isinstance(labels, torch.Tensor) else self.text_condition(len(z), labels or _cycle(len(z)))
        return (self.sampling_generator()(z, text) + 1.0) / 2.0

    def forward(self, x: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """D's logits for images in [-1, 1] and their text (prompts or embeddings; none: the digits' names in turn)."""
        text = condition if isinstance(condition, torch.Tensor) else self.text_condition(len(x), condition or _cycle(len(x)))
        return self.discriminator(x, text)[0]


def _cycle(n: int) -> list[str]:
    from zoo.data.captions import WORDS

    return [f"a handwritten {WORDS[i % 10]}" for i in range(n)]


class NoDigitWarning(UserWarning):
    """A prompt names no digit: the model draws something, but whether it matches is undefined."""


def check_prompts(prompts: list[str]) -> None:
    """Empty prompts are refused; a prompt that names no digit (or several) is warned about."""
    from zoo.data.captions import named_digit

    TextGANSurface.check_prompts(prompts)  # the surface's refusal of empty text
    unnamed = sorted({p for p in prompts if named_digit(p) is None})
    if unnamed:
        warnings.warn(f"prompt {unnamed[0]!r} names no single digit (zero..nine or 0..9): sampling anyway, "
                      "but text-image consistency is undefined for it", NoDigitWarning, stacklevel=4)
