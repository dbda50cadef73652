"""The built-in pretrained tags, for the tests that check what is shipped: which tags a task's
models ship, and each tag's loaded model with its bundle's config.json and model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zoo
from zoo.weights.tags import all_tags


def shipped_tags(*tasks: str) -> dict[str, Any]:
    """{tag name: its tag reference} for the built-in plugins' models of these tasks."""
    return {r.name: r for r in all_tags() if r.spec.plugin.builtin and r.spec.entry.task in tasks}


@dataclass
class Shipped:
    ref: Any  # the tag reference (manifest entry, spec, location)
    model: Any  # zoo.load(tag): sha256 and size checked against the manifest on this load
    doc: dict[str, Any]  # the bundle's config.json
    card: str  # the bundle's README.md


def open_shipped(ref: Any) -> Shipped:
    bundle = Path(ref.location)
    return Shipped(ref, zoo.load(ref.name), json.loads((bundle / "config.json").read_text()),
                   (bundle / "README.md").read_text())
