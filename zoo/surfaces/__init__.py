"""What a model must provide for its task: the public surfaces plugin authors build on.

One module per kind of model (`zoo.surfaces.classifier`, `.autoencoder`, `.vae`, `.gan`, ...),
each a small base class or typing Protocol whose docstrings are the reference. A surface lists
the members its task calls in `required` (dotted names reach into the model, e.g.
`zoo_config.likelihood`); `require` checks them when the task is built, so a model that lacks
one is refused in one line naming the member and the surface, never an "internal error"
halfway through the first step.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError


class SurfaceError(ZooError):
    """A model that lacks a member its task's surface requires: one line, exit code 2."""


def missing_members(model: Any, surface: type) -> list[str]:
    """The names in `surface.required` that `model` does not have (dotted names are followed)."""
    missing = []
    for name in getattr(surface, "required", ()):
        owner: Any = model
        for part in name.split("."):
            if not hasattr(owner, part):
                missing.append(name)
                break
            owner = getattr(owner, part)
    return missing


def require(model: Any, surface: type, task: str) -> None:
    """Refuse `model` for `task` unless it has every member `surface` requires."""
    missing = missing_members(model, surface)
    if missing:
        who = getattr(model, "zoo_name", type(model).__name__)
        where = f"{surface.__module__}.{surface.__qualname__}"
        raise SurfaceError(f"{who} cannot be trained by the '{task}' task: it has no {', '.join(missing)} "
                           f"(the task's surface is {where})")
