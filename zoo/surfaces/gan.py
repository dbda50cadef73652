"""What a GAN provides for the `adversarial` task (and a text-conditioned GAN for `text-to-image`),
and the base classes that provide most of it.

The task (zoo/tasks/adversarial.py) owns the schedule: per engine step it cuts the real batch
into `d_steps` slices, takes one D step on each (fresh fakes made without gradient), then
`g_steps` G steps with D frozen. It calls:

- the networks: `generator(z, c) -> N x C x H x W` in [-1, 1] (tanh), and
  `discriminator(x, c) -> (logits N x O, features N x F)`: O = 1, or k + 1 for an objective that
  names one of k generators; `features`, D's last hidden layer, is what feature matching compares;
- `game() -> Game`, the schedule, and `objective() -> zoo.objectives.Objective`, the losses
  (the config's `objective`, a registered name: `zoo list --objectives`);
- conditioning, one protocol for a label (cGAN), a generator index (MAD-GAN) and a caption
  (GAN-CLS): `real_condition(batch)` (what a real batch is conditioned on), `fake_condition(n,
  real)` (what n fakes are made from), `encode(condition)` (as G and D take it), `mismatched
  (condition)` (wrong conditions for a matching-aware D, or None), `interpolated(encoded)`
  (conditions between two of the batch's that G also plays on, or None), `train_noise(n)`;
- for pictures and evaluation: `latent_dim`, `num_classes`, `noise(n, generator, truncation)`,
  `labels(n, condition, generator)`, `render(z, labels)` and `sample(n, generator, condition,
  truncation)` (images in [0, 1]), `update_ema()` after each G step;
- for export: `export_module()` (the generator, mapped to [0, 1]) and `export_inputs(batch)`.

`GANSurface` implements all of that from a `GANConfig` and the two networks, for an
unconditional or label-conditioned GAN (`config.condition_classes` > 0); a text-conditioned
GAN subclasses `TextGANSurface`. A tiny GAN on 28 x 28 digits::

    from pydantic import Field
    from torch import nn
    from zoo.surfaces.gan import GANConfig, GANSurface

    class TinyGANConfig(GANConfig):
        objective: str = Field("non_saturating", description="The adversarial loss (`zoo list --objectives`).")
        image_size: int = Field(28, description="Image side in pixels.")
        hidden: int = Field(64, description="Hidden units of both networks.")

    class Generator(nn.Module):
        def __init__(self, c: TinyGANConfig) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(c.latent_dim, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, c.in_chans * c.image_size ** 2), nn.Tanh(),
                                     nn.Unflatten(1, c.input_shape()))

        def forward(self, z, c=None):
            return self.net(z)

    class Discriminator(nn.Module):
        def __init__(self, c: TinyGANConfig) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(c.in_chans * c.image_size ** 2, c.hidden),
                                      nn.LeakyReLU(0.2))
            self.head = nn.Linear(c.hidden, 1)

        def forward(self, x, c=None):
            features = self.body(x)
            return self.head(features), features

    class TinyGAN(GANSurface):
        def __init__(self, config: TinyGANConfig) -> None:
            super().__init__(config, Generator(config), Discriminator(config))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ConfigError, ModelConfig

if TYPE_CHECKING:
    from zoo.objectives import Objective

__all__ = ["GANConfig", "GANSurface", "Game", "TextGANSurface", "ToImage"]


class GANConfig(ModelConfig):
    """The config fields the adversarial task and `GANSurface` read; a family's config adds its networks.

    `objective` (a family gives it a default) is checked against the registry when the config is
    validated: an unknown name, or an option of another objective (`objective_options` lists this
    config's fields that some objective reads), is a ConfigError.
    """

    image_size: int = Field(32, ge=1, description="Generated image height and width in pixels.")
    in_chans: int = Field(1, ge=1, description="Image channels (1 grey, 3 RGB).")
    latent_dim: int = Field(100, ge=1, description="Length of the noise vector z ~ N(0, I).")
    objective: str = Field(description="The adversarial loss: the name of a registered objective (`zoo list "
                                       "--objectives`), a built-in one or a plugin's.")
    d_steps: int = Field(1, ge=1, description="D (critic) updates per G update, each on its own slice of the batch: "
                                              "the D:G step ratio, WGAN's n_critic.")
    g_steps: int = Field(1, ge=1, description="G updates per batch (a 1:2 D:G ratio is d_steps=1, g_steps=2).")
    ema: float = Field(0.0, ge=0.0, lt=1.0, description="Decay of an exponential moving average of G's weights that "
                                                         "`sample` uses (0: none; 0.999 is common).")

    objective_options: ClassVar[tuple[str, ...]] = ()  # fields of this config that an objective reads

    @property
    def condition_classes(self) -> int:
        """Classes a label condition picks from; 0 for a model that takes no label."""
        return 0

    @property
    def generators(self) -> int:
        """How many generators the model has (an objective may need several)."""
        return 1

    @property
    def mismatches(self) -> bool:
        """Whether D also learns from real images under wrong conditions (a matching-aware D)."""
        return False

    @model_validator(mode="after")
    def _objective_applies(self) -> GANConfig:
        from zoo.objectives import check_objective

        check_objective(self, self.objective_options, self.generators, self.mismatches)
        return self


@dataclass(frozen=True)
class Game:
    """The schedule of one engine step: D steps per G step, G steps per batch, and the G-side remedies
    the task runs (feature matching, Salimans et al. 2016; unrolled D, Metz et al. 2016)."""

    d_steps: int = 1
    g_steps: int = 1
    feature_matching: bool = False
    unrolled_steps: int = 0


class ToImage(nn.Module):
    """A generator with its output moved from tanh's [-1, 1] to the data's [0, 1]: what export writes."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return (self.generator(z, condition) + 1.0) / 2.0


class GANSurface(nn.Module):
    """A GAN from its config, a generator `(z, c) -> image in [-1, 1]` and a discriminator
    `(x, c) -> (logits, features)`; with `config.ema` > 0 also `generator_ema`, the copy `sample` uses.

    Unconditional, or conditioned on a class label when `config.condition_classes` > 0 (then
    `c` is a LongTensor of N labels and `condition_type` is "label").
    """

    required: ClassVar[tuple[str, ...]] = (
        "generator", "discriminator", "game", "objective", "latent_dim", "num_classes", "zoo_config.image_size",
        "zoo_config.in_chans", "real_condition", "fake_condition", "encode", "mismatched", "interpolated",
        "train_noise", "noise", "labels", "render", "sample", "update_ema", "export_module", "export_inputs")
    export_hooks: ClassVar[tuple[str, ...]] = ("export_module", "export_inputs")
    export_output: ClassVar[str] = "image"  # the exported graph maps noise (and a condition) to an image in [0, 1]
    value_range = (0.0, 1.0)

    def __init__(self, config: GANConfig, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.condition_type = "label" if config.condition_classes else None
        self.generator = generator
        self.discriminator = discriminator
        if config.ema:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        """Classes a label condition picks from; 0 for an unconditional model."""
        return self.config.condition_classes

    # ---------------------------------------------------------------- the game

    def game(self) -> Game:
        """The schedule the task runs; a family with more remedies returns them too."""
        return Game(d_steps=self.config.d_steps, g_steps=self.config.g_steps)

    def objective(self) -> Objective:
        """The config's objective, with its options from the config's fields (`zoo.objectives`)."""
        from zoo.objectives import load_objective

        return load_objective(self.config.objective).from_config(self.config)

    # ---------------------------------------------------------------- conditioning (training)

    def real_condition(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """What a real batch is conditioned on: its labels for a label-conditioned model, else None."""
        return batch["labels"].to(self._device()) if self.num_classes else None

    def fake_condition(self, n: int, real: torch.Tensor | None = None) -> torch.Tensor | None:
        """What n fakes are made from: the real slice's condition when given, else labels drawn uniformly
        (from the global RNG); None for an unconditional model."""
        if not self.num_classes:
            return None
        return real if real is not None else torch.randint(self.num_classes, (n,), device=self._device())

    def encode(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """A condition as G and D take it (labels as they are)."""
        return condition

    def mismatched(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """A condition per example that is not its own, for a matching-aware D; None: D learns no mismatches."""
        return None

    def interpolated(self, encoded: torch.Tensor | None) -> torch.Tensor | None:
        """Encoded conditions between two of the batch's that G also plays on (GAN-INT); None: none."""
        return None

    def train_noise(self, n: int) -> torch.Tensor:
        """n x latent_dim from N(0, I) for a training step, from the global RNG on the model's device."""
        return torch.randn(n, self.latent_dim, device=self._device())

    # ---------------------------------------------------------------- sampling

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
        """n x latent_dim from N(0, I), drawn on the CPU; with `truncation` T each value redrawn until |z| <= T
        (Brock et al. 2018)."""
        z = torch.empty(n, self.latent_dim)
        if truncation is None:
            z.normal_(generator=generator)
        else:
            nn.init.trunc_normal_(z, 0.0, 1.0, -truncation, truncation, generator=generator)
        return z.to(self._device())

    def labels(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The class of each sample: `condition` (an int or n labels), else drawn uniformly; None if unconditional."""
        if not self.num_classes:
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
        """The discriminator's logits for images in [-1, 1] (N x O); `condition`: N labels (default: cycled)."""
        return self.discriminator(x, self._cycled(condition, len(x), x.device))[0]

    def _cycled(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
        if self.num_classes and labels is None:
            return torch.arange(n, device=device) % self.num_classes
        return labels

    # ---------------------------------------------------------------- export

    def export_module(self) -> nn.Module:
        """The part that makes images: the (EMA) generator, noise (and label) -> image in [0, 1]."""
        return ToImage(self.sampling_generator())

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        inputs = {"noise": torch.randn(batch_size, self.latent_dim)}
        if self.num_classes:
            inputs["label"] = torch.randint(self.num_classes, (batch_size,))
        return inputs

    def _device(self) -> torch.device:
        return next(self.parameters()).device


class TextGANSurface(GANSurface):
    """A GAN conditioned on text: G and D take N x dim text embeddings from `text_encoder`.

    Its data is a captioned dataset (the `text-to-image` task's): every image has T caption ids
    into the dataset's vocabulary, and the task hands the model that vocabulary and the
    training split's ids once (`set_captions`). A real batch is then conditioned on one of its
    images' captions, drawn afresh each step; fakes are made for the real slice's captions, or
    for those of random training images; `encode` turns caption ids into embeddings.
    `mismatched` pairs each caption with another of the batch (Reed et al. 2016: the batch
    rolled by one). A subclass provides `text_encoder` (`prepare(prompts)`, `dim`, and
    `forward(prepared) -> N x dim`) and `prompts_for(n, generator)`, the captions `sample`
    draws when given none.
    """

    required: ClassVar[tuple[str, ...]] = (*GANSurface.required, "text_encoder", "embed", "set_captions",
                                           "text_condition")

    def __init__(self, config: GANConfig, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__(config, generator, discriminator)
        self.condition_type = "prompt"
        self._vocabulary: list[str] | None = None
        self._caption_inputs: torch.Tensor | None = None  # the text encoder's inputs for every caption, by id
        self._training_ids: torch.Tensor | None = None  # caption ids of the training images, N x T

    def prompts_for(self, n: int, generator: torch.Generator | None = None) -> list[str]:
        """n captions to draw for when `sample` is given none."""
        raise NotImplementedError

    def embed(self, prompts: list[str]) -> torch.Tensor:
        """N x dim text embeddings of the prompts, on the model's device."""
        enc = self.text_encoder
        return enc(enc.prepare(list(prompts)).to(self._device()))

    @staticmethod
    def check_prompts(prompts: list[str]) -> None:
        """Refuse an empty prompt; a family may warn about more."""
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise ConfigError("a prompt must be non-empty text (e.g. \"a thin eight\")")

    def text_condition(self, n: int, condition: Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n embeddings from a prompt, n prompts, embeddings (dim or n x dim), or None (`prompts_for`)."""
        if isinstance(condition, torch.Tensor) and condition.is_floating_point():
            return condition.to(self._device()).reshape(-1, self.text_encoder.dim).expand(n, -1)
        if condition is None:
            prompts = self.prompts_for(n, generator)
        else:
            prompts = [condition] * n if isinstance(condition, str) else list(condition)
            if len(prompts) not in (1, n):
                raise ConfigError(f"give one prompt or {n} prompts, not {len(prompts)}")
            self.check_prompts(prompts)
            prompts = prompts * n if len(prompts) == 1 else prompts
        return self.embed(prompts)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None,
               truncation: float | None = None) -> torch.Tensor:
        """n images in [0, 1] for the prompt(s) in `condition` (call in eval mode)."""
        z = self.noise(n, generator, truncation)
        return self.render(z, self.text_condition(n, condition, generator))

    # ---------------------------------------------------------------- conditioning (training)

    def set_captions(self, vocabulary: list[str], training_ids: torch.Tensor | None = None) -> None:
        """The dataset's captions (id -> text) and, from the training split, each image's caption ids (N x T)."""
        if self._vocabulary != vocabulary:
            with torch.no_grad():
                self._caption_inputs = self.text_encoder.prepare(list(vocabulary)).to(self._device())
            self._vocabulary = list(vocabulary)
        if training_ids is not None:
            self._training_ids = training_ids

    def real_condition(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One of each image's caption ids, drawn afresh every step (from the global RNG: resumable)."""
        ids = batch["captions"]
        pick = torch.randint(ids.shape[1], (len(ids),))
        return ids[torch.arange(len(ids)), pick].to(self._device())

    def fake_condition(self, n: int, real: torch.Tensor | None = None) -> torch.Tensor:
        """The real slice's caption ids, else captions of random training images."""
        if real is not None:
            return real
        if self._training_ids is None:
            raise ConfigError(f"{type(self).__name__} draws fakes for training captions, and was given none "
                              "(set_captions with the training split's ids)")
        rows = torch.randint(len(self._training_ids), (n,))
        cols = torch.randint(self._training_ids.shape[1], (n,))
        return self._training_ids[rows, cols].to(self._device())

    def encode(self, condition: torch.Tensor | None) -> torch.Tensor:
        """Caption ids -> N x dim embeddings (through the text encoder, trained with D when it trains)."""
        return self.text_encoder(self._caption_inputs[condition])

    def mismatched(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """Another caption of the batch for each (the batch rolled by one), when D is matching-aware."""
        if condition is None or not self.config.mismatches:
            return None
        return condition.roll(1, 0)

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        return {"noise": torch.randn(batch_size, self.latent_dim),
                "text_embedding": torch.randn(batch_size, self.text_encoder.dim)}
