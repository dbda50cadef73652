"""Text encoders as registry entries: listing them (no torch) and loading one.

A plugin declares encoders in its manifest (`text_encoders:`, schema version 2); `code` names a
callable `factory(entry) -> module`, imported only when the encoder is loaded. Names resolve
like extractor names: plain `name`, or `plugin:name` when two plugins claim one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.errors import PluginError, ZooError
from zoo.manifest import TextEncoderEntry


class TextEncoderError(ZooError):
    """An unknown text encoder, or one whose package is not installed."""


@dataclass(frozen=True)
class TextEncoderRow:
    name: str
    plugin: str
    summary: str
    dim: int
    trainable: bool
    package: str | None


def _specs() -> dict[str, tuple[TextEncoderEntry, str]]:
    """Every encoder under `plugin:name`, and under its plain name when no earlier plugin took it."""
    from zoo.registry import get_registry

    specs: dict[str, tuple[TextEncoderEntry, str]] = {}
    for plugin in get_registry().plugins:
        if not plugin.ok or plugin.manifest is None:
            continue
        for entry in plugin.manifest.text_encoders:
            specs[f"{plugin.name}:{entry.name}"] = (entry, plugin.name)
            specs.setdefault(entry.name, (entry, plugin.name))
    return specs


def list_text_encoders() -> list[TextEncoderRow]:
    """One row per encoder, from manifests only (imports no torch)."""
    return sorted((TextEncoderRow(e.name, plugin, e.summary, e.dim, e.trainable, e.package)
                   for key, (e, plugin) in _specs().items() if ":" in key), key=lambda r: r.name)


def find_text_encoder(name: str) -> TextEncoderEntry:
    specs = _specs()
    if name not in specs:
        known = sorted(k for k in specs if ":" not in k)
        raise TextEncoderError(f"no text encoder '{name}' (known: {', '.join(known) or 'none'})")
    return specs[name][0]


def load_text_encoder(name: str) -> Any:
    """The encoder module `name`; a pretrained one frozen, in eval mode."""
    from zoo.registry import import_ref

    entry = find_text_encoder(name)
    encoder = import_ref(entry.code)(entry)
    if encoder.dim != entry.dim:
        raise PluginError(f"text encoder '{name}' gives {encoder.dim}-d embeddings, its manifest says {entry.dim}")
    encoder.name = entry.name
    if not entry.trainable:
        encoder.requires_grad_(False).eval()
    return encoder
