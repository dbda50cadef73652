"""Support for the weights and export tests (it holds no tests).

A test plugin with a tiny classifier, a model with tied weights and a generator/discriminator
pair with the export hook; `add_tag` gives a model a pretrained tag whose bundle lives inside
the plugin package, as shipped weights do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plugin_fixtures import PluginFactory, manifest, model_entry

from zoo.registry import refresh

MODELS = '''
import torch
from pydantic import Field
from torch import nn
from zoo.config import ImageClassifierConfig, ModelConfig


class TinyConfig(ImageClassifierConfig):
    image_size: int = Field(16, ge=8, description="Input size.")
    width: int = Field(4, ge=1, description="Hidden channels.")


class Tiny(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(config.in_chans, config.width, 3), nn.BatchNorm2d(config.width),
                                      nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(config.width, config.num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class TiedConfig(ModelConfig):
    in_chans: int = Field(1, description="Channels.")
    image_size: int = Field(8, description="Size.")
    hidden: int = Field(6, description="Code size.")


class Tied(nn.Module):
    """Autoencoder whose decoder reuses the encoder matrix (two names, one tensor)."""

    def __init__(self, config):
        super().__init__()
        n = config.in_chans * config.image_size ** 2
        self.encoder = nn.Linear(n, config.hidden, bias=False)
        self.decoder = nn.Linear(config.hidden, n, bias=False)
        self.decoder.weight = self.encoder.weight  # tied: decoder uses W^T via forward below
        self.shape = (config.in_chans, config.image_size, config.image_size)

    def forward(self, x):
        code = self.encoder(x.flatten(1))
        return (code @ self.decoder.weight).view(-1, *self.shape)


class PairConfig(ModelConfig):
    latent_dim: int = Field(5, description="Noise size.")
    num_classes: int = Field(3, description="Conditions.")
    in_chans: int = Field(1, description="Channels.")
    image_size: int = Field(8, description="Size.")


class Generator(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c.num_classes, c.latent_dim)
        self.net = nn.Sequential(nn.Linear(c.latent_dim, c.in_chans * c.image_size ** 2), nn.Tanh())
        self.shape = (c.in_chans, c.image_size, c.image_size)

    def forward(self, noise, condition):
        return self.net(noise * self.embed(condition)).view(-1, *self.shape)


class Pair(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = nn.Sequential(nn.Flatten(), nn.Linear(config.in_chans * config.image_size ** 2, 1))

    def forward(self, x):
        return self.discriminator(x)

    def export_module(self):
        return self.generator

    def export_inputs(self, batch_size):
        return {"noise": torch.randn(batch_size, self.config.latent_dim),
                "condition": torch.randint(0, self.config.num_classes, (batch_size,))}


class Branchy(nn.Module):
    """Python control flow on the batch size: a trace bakes in the branch of its example batch."""

    def __init__(self, config):
        super().__init__()
        self.head = nn.Linear(config.in_chans * config.image_size ** 2, config.num_classes)

    def forward(self, x):
        return self.head(x.flatten(1)) * (2.0 if x.shape[0] == 2 else 1.0)
'''


def plugin_manifest(tags: dict[str, list[dict]] | None = None) -> dict:
    tags = tags or {}
    entries = [
        model_entry("tiny", "wtpkg", family="tiny", config="wtpkg.tiny:TinyConfig", builder="wtpkg.tiny:Tiny",
                    pretrained=tags.get("tiny", [])),
        model_entry("tiny_wide", "wtpkg", family="tiny", config="wtpkg.tiny:TinyConfig", builder="wtpkg.tiny:Tiny",
                    defaults={"width": 8}, pretrained=tags.get("tiny_wide", [])),
        model_entry("tied", "wtpkg", family="tied", task="autoencoding", input_size=8,
                    config="wtpkg.tiny:TiedConfig", builder="wtpkg.tiny:Tied"),
        model_entry("pair", "wtpkg", family="pair", task="adversarial", input_size=8,
                    config="wtpkg.tiny:PairConfig", builder="wtpkg.tiny:Pair"),
        model_entry("branchy", "wtpkg", family="branchy", config="wtpkg.tiny:TinyConfig", builder="wtpkg.tiny:Branchy"),
    ]
    return manifest("wt", *entries)


class WeightsPlugin:
    """The installed test plugin; `add_tag` saves a bundle inside it and declares it in the manifest."""

    def __init__(self, factory: PluginFactory) -> None:
        self.manifest_path = factory.install("zoo-weights-test", "wtpkg", plugin_manifest(), module_source=MODELS)
        self.tags: dict[str, list[dict]] = {}

    @property
    def root(self) -> Path:
        return self.manifest_path.parent

    @property
    def site(self) -> Path:
        """The directory to put on PYTHONPATH for a subprocess to see the plugin."""
        return self.root.parent

    def add_tag(self, model, tag: str, *, declared_model: str | None = None, **tag_fields) -> Path:
        import zoo
        from zoo.weights.safefile import sha256_file

        name = declared_model or model.zoo_name.split(":")[1]
        rel = f"weights/{name}.{tag}"
        bundle = zoo.save_pretrained(model, self.root / rel, tag=tag, data="noise")
        weights = bundle / "model.safetensors"
        entry = {"tag": tag, "path": rel, "sha256": sha256_file(weights), "size": weights.stat().st_size,
                 "data": "noise", "metrics": {"accuracy": 0.5}, **tag_fields}
        self.declare(name, entry)
        return bundle

    def declare(self, name: str, entry: dict) -> None:
        """Add a `pretrained:` entry to model `name` in the manifest and rediscover the plugins."""
        self.tags.setdefault(name, []).append(entry)
        self.manifest_path.write_text(yaml.safe_dump(plugin_manifest(self.tags), sort_keys=False))
        refresh()


@pytest.fixture
def wt(plugins) -> WeightsPlugin:
    return WeightsPlugin(plugins)
