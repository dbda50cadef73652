"""From a resolved model to a module: its config class, a validated config, the built `nn.Module`.

Below the Python API and the weights code alike (both build models); torch is imported only
when a model is built.
"""

from __future__ import annotations

from typing import Any

from zoo.config import ModelConfig, validate_config
from zoo.errors import PluginError
from zoo.registry import ModelSpec


def config_class(spec: ModelSpec) -> type[ModelConfig]:
    cls = spec.config_class()
    if not (isinstance(cls, type) and issubclass(cls, ModelConfig)):
        raise PluginError(f"plugin '{spec.plugin.name}' ({spec.name}): {spec.entry.config} is not a zoo.config.ModelConfig")
    return cls


def config_for(spec: ModelSpec, overrides: dict[str, Any] | ModelConfig | None = None) -> ModelConfig:
    """The model's validated config: its variant's defaults under `overrides` (a config already of the model's
    class is returned as it is: validated once)."""
    cls = config_class(spec)
    if isinstance(overrides, cls):
        return overrides
    if isinstance(overrides, ModelConfig):
        overrides = overrides.model_dump()
    return validate_config(cls, {**spec.entry.defaults, **(overrides or {})}, f"config for {spec.name}")


def build(spec: ModelSpec, config: ModelConfig) -> Any:
    import torch.nn as nn

    builder = spec.builder()
    model = builder(config)
    if not isinstance(model, nn.Module):
        raise PluginError(f"plugin '{spec.plugin.name}' ({spec.name}): builder returned {type(model).__name__}, not an nn.Module")
    model.zoo_name = spec.qualified_name
    model.zoo_config = config
    return model
