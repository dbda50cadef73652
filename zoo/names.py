"""The one place a user's string becomes a model: `WGAN-GP`, `vgg`, `zoo:lenet5`, `gan-cls.mnist`.

Names match the way pip matches package names: case does not matter and `-` and `_` are the
same letter, so `VGG16`, `wgan-gp` and `Gan_CLS` find `vgg16`, `wgan_gp` and `gan_cls`. A
pretrained tag follows the first dot (`lenet5.mnist`). Resolution order: `plugin:model`
(always exact), a model name, a family name (its default member, with a note saying so).

Below both the Python API (`zoo.api`) and the weights code (`zoo.weights`): each of them
asks this module, and neither asks the other. Torch-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from zoo.errors import UnknownModelError
from zoo.manifest import PretrainedTag
from zoo.registry import ModelSpec, canonical, get_registry

__all__ = ["Resolved", "canonical", "natural_key", "resolve", "resolve_tagged", "split_tag"]


def natural_key(text: str) -> list[Any]:
    """Sort 'vgg11' before 'vgg13' before 'vgg16' (digits compare as numbers)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


def split_tag(name: str) -> tuple[str, str | None]:
    """'lenet5.mnist' -> ('lenet5', 'mnist'); 'lenet5' -> ('lenet5', None)."""
    base, sep, tag = name.partition(".")
    return base, (tag if sep else None)


@dataclass(frozen=True)
class Resolved:
    """A user's string, understood: the model, the pretrained tag it named (if any), and a note."""

    spec: ModelSpec
    tag: PretrainedTag | None
    note: str | None  # says when a family name picked its default member

    @property
    def tagged_name(self) -> str:
        """`lenet5.mnist` in the registry's spelling (without the tag when none was named)."""
        shown = get_registry().display_name(self.spec)
        return f"{shown}.{self.tag.tag}" if self.tag is not None else shown


def resolve(name: str) -> tuple[ModelSpec, str | None]:
    """(spec, note) for a model, family or `plugin:model` name; a `.tag` suffix is ignored."""
    return get_registry().resolve(split_tag(name)[0])


def resolve_tagged(name: str) -> Resolved:
    """Spec and pretrained tag of `name`; a tag the model does not declare is an error naming those it has."""
    base, tag_text = split_tag(name)
    spec, note = get_registry().resolve(base)
    if tag_text is None:
        return Resolved(spec, None, note)
    wanted = canonical(tag_text)
    for tag in spec.entry.pretrained:
        if canonical(tag.tag) == wanted:
            return Resolved(spec, tag, note)
    shown = get_registry().display_name(spec)
    if not spec.entry.pretrained:
        raise UnknownModelError(f"no pretrained tag '{tag_text}': {shown} has no pretrained weights "
                                "(see `zoo list --pretrained`)")
    known = ", ".join(f"{shown}.{t.tag}" for t in spec.entry.pretrained)
    raise UnknownModelError(f"no pretrained tag '{tag_text}' for {shown}; it has: {known}")
