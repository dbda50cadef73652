"""What a model provides for the `image-to-image` task, and the base class that provides most of it.

A translation model maps images of domain A to domain B (`direction="ab"`) and, for the cycle
models, B back to A (`"ba"`). Its networks are task modules, each with its own optimizer
(`train.optim.<module>.*`): `generator_ab`, `generator_ba`, `discriminator_a` (judges A images),
`discriminator_b` (judges B images), those the model has. The task (`task.py`) prepares batches
(both domains on tanh's [-1, 1] scale) and calls:

- `translation_step(a, b, modules, stepper) -> metrics`: one training step of the model's own
  losses (D then G, D frozen in G's step), each adversarial term from the registered objective
  the config names (`objective()`, `zoo list --objectives`);
- `generate(x, direction)`: the generator of that direction on [-1, 1] images (with gradient);
- `translate(x, direction)`: the public surface, images in the data's [0, 1] range in and out;
- `reconstruct(x, direction)`: there and back (cycle models; None for the others);
- `baseline(x)`: a non-learned answer to compare with (bicubic upsampling for super-resolution), or None;
- `directions`, `pairing` ('paired': needs each A with its own B; 'unpaired'), and for export
  `export_module()` / `export_inputs(n)`: every generator in one graph, [0, 1] in and out.

Shapes: `zoo_config.domain_shape("a")` and `("b")`; `input_shape()` is A's.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Iterator, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ModelConfig
from zoo.objectives import Critique, Objective

__all__ = ["TranslationConfig", "TranslationModel", "TranslationSurface", "d_loss", "frozen", "g_loss"]

DIRECTIONS = ("ab", "ba")


class TranslationSurface:
    """The members the `image-to-image` task reads (a model need not subclass this; `TranslationModel` does)."""

    required: ClassVar[tuple[str, ...]] = ("translation_modules", "translation_step", "translate", "generate",
                                           "reconstruct", "baseline", "directions", "pairing",
                                           "zoo_config.domain_shape")
    export_hooks: ClassVar[tuple[str, ...]] = ("export_module", "export_inputs")
    export_output: ClassVar[str] = "translation"  # image(s) of domain A (and B) -> their translations


class TranslationConfig(ModelConfig):
    """The fields every translation model shares; a family adds its networks and loss weights."""

    image_size: int = Field(28, ge=4, le=1024, description="Domain A image height and width in pixels.")
    chans_a: int = Field(1, ge=1, le=4, description="Domain A channels (1 grey, 3 RGB).")
    chans_b: int = Field(1, ge=1, le=4, description="Domain B channels (1 grey, 3 RGB).")
    width: float = Field(1.0, gt=0, le=8, description="Multiplier on every network's channels (1: the scaled paper "
                                                      "widths given in the model's docstring).")
    objective: str = Field("least_squares", description="The adversarial loss: a registered objective (`zoo list "
                                                        "--objectives`).")

    scale: ClassVar[int] = 1  # B's side over A's (4 for super-resolution)

    def domain_shape(self, domain: Literal["a", "b"]) -> tuple[int, int, int]:
        if domain == "a":
            return (self.chans_a, self.image_size, self.image_size)
        side = self.image_size * self.scale
        return (self.chans_b, side, side)

    def input_shape(self) -> tuple[int, ...]:
        return self.domain_shape("a")

    def channels(self, base: int) -> int:
        """`base` channels scaled by `width`, at least 4."""
        return max(4, round(base * self.width))

    @model_validator(mode="after")
    def _objective_applies(self) -> TranslationConfig:
        from zoo.objectives import check_objective

        check_objective(self)
        return self


class TranslationModel(nn.Module):
    """Base of the family's models: the surface above from a config and the generator/discriminator modules."""

    directions: ClassVar[tuple[str, ...]] = ("ab",)
    pairing: ClassVar[str] = "unpaired"
    value_range = (0.0, 1.0)
    module_names: ClassVar[tuple[str, ...]] = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")

    def __init__(self, config: TranslationConfig) -> None:
        super().__init__()
        self.config = config

    def translation_modules(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.module_names if isinstance(getattr(self, name, None), nn.Module)}

    def objective(self) -> Objective:
        from zoo.objectives import load_objective

        return load_objective(self.config.objective).from_config(self.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A images on the [-1, 1] scale -> B images on it (the generator; `translate` is the public surface)."""
        return self.generator_ab(x)

    def generate(self, x: torch.Tensor, direction: str = "ab") -> torch.Tensor:
        self._check_direction(direction)
        return getattr(self, f"generator_{direction}")(x)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "ab") -> torch.Tensor:
        """N x C x H x W images in [0, 1] of the source domain -> their translations in [0, 1]."""
        self._check_direction(direction)
        source = "a" if direction == "ab" else "b"
        want = self.config.domain_shape(source)
        if tuple(x.shape[1:]) != want:
            from zoo.errors import ZooError

            raise ZooError(f"{self.zoo_name} translates {direction} images of shape {want}, not {tuple(x.shape[1:])}")
        return self.generate(x * 2 - 1, direction).add(1).div(2).clamp(0, 1)

    def reconstruct(self, x: torch.Tensor, direction: str = "ab") -> torch.Tensor | None:
        """[-1, 1] images there and back (G_ba(G_ab(x)) for 'ab'); None for a one-way model."""
        if len(self.directions) < 2:
            return None
        back = "ba" if direction == "ab" else "ab"
        return self.generate(self.generate(x, direction), back)

    def baseline(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def _check_direction(self, direction: str) -> None:
        if direction not in self.directions:
            from zoo.errors import ZooError

            raise ZooError(f"{getattr(self, 'zoo_name', type(self).__name__)} translates "
                           f"{' and '.join(self.directions)} only, not {direction!r}")

    def translation_step(self, a: torch.Tensor, b: torch.Tensor, modules: dict[str, nn.Module],
                         stepper: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ export

    def export_module(self) -> nn.Module:
        return Translator(self)

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        return {f"image_{d[0]}": torch.rand(batch_size, *self.config.domain_shape(d[0]), generator=gen)
                for d in self.directions}


class Translator(nn.Module):
    """Every generator of a model in one graph: image_a (and image_b) in [0, 1] -> translations in [0, 1]."""

    def __init__(self, model: TranslationModel) -> None:
        super().__init__()
        self.directions = model.directions
        self.generators = nn.ModuleList(getattr(model, f"generator_{d}") for d in self.directions)

    def forward(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...] | torch.Tensor:
        out = tuple(g(x * 2 - 1).add(1).div(2).clamp(0, 1) for g, x in zip(self.generators, images))
        return out if len(out) > 1 else out[0]


# ---------------------------------------------------------------------- adversarial pieces


def d_loss(objective: Objective, d: nn.Module, real: torch.Tensor, fake: torch.Tensor,
           condition: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The objective's D loss on real and (detached) fake images; `condition` is concatenated in front of
    both on the channel axis (pix2pix's D sees the input beside the output)."""
    def critic(x: torch.Tensor) -> torch.Tensor:
        return d(x if condition is None else torch.cat([condition, x], 1))

    fake = fake.detach()
    return objective.d_loss(Critique(critic(real), critic(fake), real, fake, critic=critic))


def g_loss(objective: Objective, d: nn.Module, fake: torch.Tensor, condition: torch.Tensor | None = None,
           real: torch.Tensor | None = None) -> torch.Tensor:
    """The objective's G loss on D's verdict on `fake` (D frozen by the caller)."""
    x = fake if condition is None else torch.cat([condition, fake], 1)
    real_out = None
    if objective.g_uses_real and real is not None:
        with torch.no_grad():
            real_out = d(real if condition is None else torch.cat([condition, real], 1))
    return objective.g_loss(d(x), real_out)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Turn off requires_grad of the modules' parameters for G's step (no update, no gradient kept)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def step_jointly(loss: torch.Tensor, names: tuple[str, ...], modules: dict[str, nn.Module], stepper: Any,
                 clip: float | None) -> None:
    """One loss that several modules share (two generators tied by a cycle): one backward, every optimizer steps.

    The engine's `stepper.step(loss, name)` updates one optimizer; the others are zeroed first and stepped
    after it from the same backward, their gradients clipped as the engine clips (`train.grad_clip`).
    """
    first, rest = names[0], names[1:]
    for name in rest:
        stepper.optimizers[name].zero_grad(set_to_none=True)
    stepper.step(loss, first)
    for name in rest:
        if clip:
            nn.utils.clip_grad_norm_(modules[name].parameters(), clip)
        stepper.optimizers[name].step()
