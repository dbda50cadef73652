"""Real third-party plugins for tests: a package and a `.dist-info` with a `zoo.plugins` entry
point, put on sys.path, so discovery goes through importlib.metadata exactly as after `pip install`."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from zoo.registry import refresh

TINY_MODEL = '''
from pydantic import Field
from torch import nn
from zoo.config import ImageClassifierConfig


class TinyConfig(ImageClassifierConfig):
    image_size: int = Field(16, ge=8, description="Input size.")
    width: int = Field(4, ge=1, description="Hidden channels.")


class Tiny(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(config.in_chans, config.width, 3), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(config.width, config.num_classes))

    def forward(self, x):
        return self.net(x)
'''


def model_entry(name: str, package: str, family: str = "tiny", **extra: object) -> dict:
    entry = {"name": name, "task": "classification", "family": family, "summary": f"{name} for tests.",
             "input_size": 16, "in_chans": 1, "config": f"{package}.tiny:TinyConfig",
             "builder": f"{package}.tiny:Tiny"}
    entry.update(extra)
    return entry


class PluginFactory:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.packages: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def install(self, dist: str, package: str, manifest: dict | str | None, *, module_source: str = TINY_MODEL,
                entry_name: str | None = None, manifest_file: str = "zoo.yaml") -> Path:
        """Write `package/` (manifest + tiny.py) and `dist-0.1.dist-info/` declaring the entry point."""
        import yaml

        pkg = self.root / package
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "tiny.py").write_text(module_source)
        if manifest is not None:
            text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False)
            (pkg / manifest_file).write_text(text)
        info = self.root / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(
            f"[zoo.plugins]\n{entry_name or dist} = {package}:{manifest_file}\n")
        self.packages.append(package)
        refresh()
        return pkg / manifest_file

    def cleanup(self) -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in self.packages:
                del sys.modules[name]


def manifest(plugin: str, *models: dict, families: list[dict] | None = None) -> dict:
    return {"schema_version": 1, "plugin": {"name": plugin, "version": "0.1"},
            "families": families or [], "models": list(models)}


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    factory = PluginFactory(tmp_path / "site", monkeypatch)
    factory.root.mkdir()
    yield factory
    factory.cleanup()
    monkeypatch.undo()
    refresh()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
