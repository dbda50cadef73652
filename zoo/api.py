"""The Python API behind `zoo.list_models`, `zoo.model_info`, `zoo.get_config`, `zoo.create_model`.

A thin facade: names are understood by `zoo.names`, models built by `zoo.building`, weights
loaded by `zoo.weights`. Listing and info read manifests only; configs import the plugin's
module; building imports torch through the plugin.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zoo.building import build, config_class, config_for
from zoo.config import ModelConfig
from zoo.manifest import PretrainedTag
from zoo.names import natural_key, resolve, split_tag
from zoo.registry import ModelSpec, get_registry

__all__ = ["ModelInfo", "build", "config_class", "config_for", "create_model", "get_config", "list_models",
           "matching_models", "model_info", "natural_key", "resolve", "split_tag"]


def list_models(
    pattern: str | Iterable[str] | None = None,
    task: str | None = None,
    family: str | None = None,
    pretrained: bool = False,
) -> list[str]:
    """Model names matching any of the glob patterns (and the filters), in natural order.

    With `pretrained=True` the names carry their tags (`lenet5.mnist`), as in timm.
    """
    return [name for name, _ in matching_models(pattern, task, family, pretrained)]


def matching_models(
    pattern: str | Iterable[str] | None = None,
    task: str | None = None,
    family: str | None = None,
    pretrained: bool = False,
) -> list[tuple[str, ModelSpec]]:
    """(name, spec) for every model `list_models` lists, in the same order."""
    reg = get_registry()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or [])
    found = []
    for spec in reg.visible():
        shown = reg.display_name(spec)
        if task and spec.entry.task != task:
            continue
        if family and spec.entry.family != family:
            continue
        if patterns and not any(fnmatch.fnmatchcase(shown, p) or fnmatch.fnmatchcase(spec.qualified_name, p) for p in patterns):
            continue
        if pretrained:
            found.extend((f"{shown}.{t.tag}", spec) for t in spec.entry.pretrained)
        else:
            found.append((shown, spec))
    return sorted(found, key=lambda item: natural_key(item[0]))


@dataclass(frozen=True)
class ModelInfo:
    """What the manifest says of one model."""

    name: str
    qualified_name: str
    plugin: str
    plugin_version: str
    source: str
    task: str
    family: str
    summary: str
    paper: str
    input_size: int
    in_chans: int
    defaults: dict[str, Any]
    pretrained: tuple[PretrainedTag, ...]
    family_members: tuple[str, ...]
    note: str | None = None


def model_info(name: str) -> ModelInfo:
    spec, note = resolve(name)
    reg = get_registry()
    e = spec.entry
    members = tuple(sorted((reg.display_name(s) for s in reg.members(e.family)), key=natural_key))
    return ModelInfo(
        name=reg.display_name(spec), qualified_name=spec.qualified_name, plugin=spec.plugin.name,
        plugin_version=spec.plugin.version, source=spec.plugin.source, task=e.task, family=e.family,
        summary=e.summary, paper=e.paper, input_size=e.input_size, in_chans=e.in_chans,
        defaults=dict(e.defaults), pretrained=e.pretrained, family_members=members, note=note,
    )


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """The validated config of a model: the family's defaults, the variant's, then `overrides`."""
    spec, _ = resolve(name)
    return config_for(spec, overrides)


def create_model(name: str, config: ModelConfig | None = None, *, pretrained: bool = False,
                 adapt_head: bool = False, **overrides: Any) -> Any:
    """Build a model (an `nn.Module`) from its name, a config and/or field overrides.

    The module carries `zoo_name` (`plugin:model`) and `zoo_config` so that it can be saved
    and rebuilt. `pretrained=True` loads the weights of the tag in `name` (`lenet5.mnist`),
    or of the model's first tag; `adapt_head=True` allows another `num_classes`.
    """
    if pretrained:
        from zoo.weights.bundle import load

        fields = {**(config.model_dump() if config is not None else {}), **overrides}
        return load(name, adapt_head=adapt_head, **fields).train()
    spec, _ = resolve(name)
    if config is not None:
        config = config_for(spec, {**config.model_dump(), **overrides})
    else:
        config = config_for(spec, overrides)
    return build(spec, config)
