"""Adversarial objectives: the losses of a GAN's two players, as registered strategies.

An objective is a manifest entry (`objectives:`, schema version 3) whose `code` names a subclass
of `Objective`; a GAN's config picks one by name (`objective: hinge`, `zoo list --objectives`).
The adversarial task owns the schedule (which player steps when, on which slice of the batch,
with D frozen in G's step); the objective owns the arithmetic. Per engine step the task calls:

    objective = model.objective()                 # once: built from the model's config
    loss, metrics = objective.d_loss(critique)    # each D step: a Critique of one real slice and as many fakes
    objective.after_d_step(discriminator)         # after each D update (WGAN clips the weights here)
    loss = objective.g_loss(fake_out, real_out)   # each G step; real_out is None unless `g_uses_real`

D's outputs are its raw logits (N x O, no sigmoid): an objective applies its own link (sigmoid
for the log loss, none for a critic). The task logs the metrics `d_loss` returns, which must
hold `d_real` and `d_fake` (D's mean verdict on real and on fake images, in whatever units the
objective reads them: a probability, a score) and may add more (`wasserstein`, ...).

A plugin's own objective: subclass `Objective`, declare the config fields it reads in
`options`, and list it in the manifest:

    objectives:
      - {name: my_loss, summary: "...", code: "mypkg.losses:MyLoss"}

This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Critique", "Objective", "check_objective", "load_objective"]


@dataclass(frozen=True)
class Critique:
    """What D said in one D step, and what an objective may need besides.

    `real_out` and `fake_out` are D's logits (N x O) on a slice of real images and on as many
    fakes made without gradient; `real` and `fake` are those images (in [-1, 1]) and `critic`
    gives D's logits for other images under the real slice's condition (a gradient penalty
    evaluates D between the two). `fake_condition` is what each fake was made from (MAD-GAN:
    its generator's index; None for an unconditional model). `wrong_out`, for a matching-aware
    D (GAN-CLS), is D's logits on the real images under mismatched conditions, else None.
    """

    real_out: torch.Tensor
    fake_out: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor
    critic: Callable[[torch.Tensor], torch.Tensor]
    fake_condition: torch.Tensor | None = None
    wrong_out: torch.Tensor | None = None


class Objective:
    """Base of every adversarial objective; subclasses implement `d_loss` and `g_loss`.

    Class attributes say what the objective needs, so that a config asking for something it
    cannot do is refused before training (`check_objective`):

    - `options`: names of the model-config fields the objective reads (each a keyword of its
      constructor), e.g. `("label_smoothing",)`; a config that sets another objective's option
      (a `clip_value` on the log loss) is refused.
    - `g_uses_real`: `g_loss` needs D's logits on real images too (the relativistic losses).
    - `matching_aware`: `d_loss` reads `Critique.wrong_out` (GAN-CLS's matching-aware D).
    - `identifies_generators`: D has k + 1 outputs naming the generator of each fake (MAD-GAN).
    """

    options: ClassVar[tuple[str, ...]] = ()
    g_uses_real: ClassVar[bool] = False
    matching_aware: ClassVar[bool] = False
    identifies_generators: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config: Any) -> Objective:
        """The objective with each of its `options` taken from the config field of that name (absent or None:
        the constructor's default)."""
        given = {name: getattr(config, name, None) for name in cls.options}
        return cls(**{name: value for name, value in given.items() if value is not None})

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss to minimise on one slice, and its metrics (`d_real`, `d_fake`, any more), detached."""
        raise NotImplementedError

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        """G's loss to minimise from D's logits on fresh fakes (and on the real slice when `g_uses_real`)."""
        raise NotImplementedError

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after every D update, on the unwrapped discriminator: a constraint on its weights."""


def load_objective(name: str) -> type[Objective]:
    """The objective class registered as `name`; an unknown name is a ZooError listing the known ones."""
    from zoo.errors import PluginError
    from zoo.registry import contribution

    spec = contribution("objectives", name)
    cls = spec.load()
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise PluginError(f"plugin '{spec.plugin.name}': objective '{name}' ({spec.entry.code}) is not a subclass "
                          "of zoo.objectives.Objective")
    return cls


def check_objective(config: Any, option_fields: tuple[str, ...] = (), generators: int = 1,
                    matching_aware: bool = False) -> type[Objective]:
    """Refuse (ValueError, for a config validator) an objective the config cannot use.

    `option_fields` are the config's fields that some objective reads; one that is set (not
    None, 0 or False) must be among the chosen objective's `options`. `generators` and
    `matching_aware` say what the model has: identification needs several generators, and a
    matching-aware D an objective that reads its mismatched pairs.
    """
    from zoo.errors import ZooError

    try:
        cls = load_objective(config.objective)
    except ZooError as err:
        raise ValueError(str(err)) from None
    name = config.objective
    for field in option_fields:
        if getattr(config, field, None) not in (None, 0, 0.0, False) and field not in cls.options:
            takes = f"it takes {', '.join(cls.options)}" if cls.options else "it takes no options"
            raise ValueError(f"{field} does not apply to objective={name} ({takes})")
    if cls.identifies_generators and generators < 2:
        raise ValueError(f"objective={name} has D name which of several generators made each fake; "
                         "this model has one generator")
    if matching_aware and not cls.matching_aware:
        raise ValueError(f"a matching-aware discriminator needs an objective that learns from mismatched pairs "
                         f"(a log loss), not objective={name}; or set matching_aware=false")
    return cls
