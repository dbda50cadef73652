"""Feature extractors as registry entries: listing them (no torch) and loading one.

A plugin declares extractors in its manifest (`extractors:`, schema version 2); `code` names a
callable `factory(weights) -> FeatureExtractor`, imported only when the extractor is loaded.
`weights` is the entry's pretrained tag (`lenet5.mnist`) or a file the user supplied; an entry
without a tag has no weights until the user gives some, because the zoo never downloads them.
Names resolve like model names: plain `name`, or `plugin:name` when two plugins claim one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import PluginError, ZooError
from zoo.manifest import ExtractorEntry
from zoo.registry import PluginEntry

DEFAULT_EXTRACTOR = "lenet5_mnist"


class ExtractorError(ZooError):
    """An unknown extractor, or weights it cannot use (missing, corrupt, of another network)."""


@dataclass(frozen=True)
class ExtractorSpec(PluginEntry):
    """An extractor entry together with the plugin that provides it."""

    entry: ExtractorEntry


@dataclass(frozen=True)
class ExtractorRow:
    """One line of `zoo list --extractors`."""

    name: str
    plugin: str
    kind: str
    summary: str
    input_size: int
    in_chans: int
    num_features: int
    num_classes: int | None
    weights: str  # a pretrained tag, or 'user-supplied'


def extractor_specs() -> dict[str, ExtractorSpec]:
    """Every extractor under `plugin:name`, and under its plain name when no earlier plugin took it.

    Plugins come in the registry's order (built-ins first), so a collision resolves the way
    model names do.
    """
    from zoo.registry import get_registry

    specs: dict[str, ExtractorSpec] = {}
    for plugin in get_registry().plugins:
        if not plugin.ok or plugin.manifest is None:
            continue
        for entry in plugin.manifest.extractors:
            spec = ExtractorSpec(entry, plugin)
            specs[spec.qualified_name] = spec
            specs.setdefault(entry.name, spec)
    return specs


def list_extractors() -> list[ExtractorRow]:
    """One row per extractor, from manifests only (imports no torch)."""
    specs = extractor_specs()
    rows = []
    for key, spec in specs.items():
        if ":" not in key:
            continue
        e = spec.entry
        shown = e.name if specs.get(e.name) is spec else spec.qualified_name
        rows.append(ExtractorRow(shown, spec.plugin.name, e.kind, e.summary, e.input_size, e.in_chans,
                                 e.num_features, e.num_classes,
                                 e.weights or (f"package {e.package}" if e.package else "user-supplied")))
    return sorted(rows, key=lambda r: r.name)


def find_extractor(name: str) -> ExtractorSpec:
    specs = extractor_specs()
    spec = specs.get(name)
    if spec is None:
        known = sorted(k for k in specs if ":" not in k)
        raise ExtractorError(f"no extractor '{name}' (known: {', '.join(known) or 'none'}; see `zoo list --extractors`)")
    return spec


def load_extractor(name: str = DEFAULT_EXTRACTOR, weights: str | Path | None = None, kind: str = "features") -> Any:
    """The extractor `name` in eval mode, on `weights` (a file or bundle) or else its own pretrained tag.

    `kind` is what the caller can use: image metrics need 'features', not a text encoder.
    """
    from zoo.registry import import_ref

    spec = find_extractor(name)
    if spec.entry.kind != kind:
        raise ExtractorError(f"extractor '{name}' is of kind '{spec.entry.kind}'; this needs kind '{kind}'")
    source, sha256 = _weights_of(spec, weights)
    factory = import_ref(spec.entry.code)
    extractor = factory(source)
    _check_against_manifest(extractor, spec)
    extractor.name = spec.name
    extractor.weights_sha256 = getattr(extractor, "weights_sha256", "") if source is None else sha256
    extractor.own_weights = weights is None
    return extractor.eval()


def _weights_of(spec: ExtractorSpec, weights: str | Path | None) -> tuple[str | None, str]:
    """(what the factory loads, the sha256 of those weights' file); (None, the package) for package-shipped weights,
    whose factory finds and checks its file and reports its sha256 as `weights_sha256`."""
    from zoo.weights.safefile import sha256_file
    from zoo.weights.tags import find_tag

    if weights is None:
        if spec.entry.weights is None and spec.entry.package:
            return None, f"package:{spec.entry.package}"
        if spec.entry.weights is None:
            raise ExtractorError(f"extractor '{spec.name}' has no weights of its own and the zoo never downloads "
                                 f"them; give a local file with --extractor-weights FILE")
        return spec.entry.weights, find_tag(spec.entry.weights).tag.sha256
    path = Path(weights).expanduser()
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise ExtractorError(f"extractor weights {weights}: no such file (or bundle with model.safetensors)")
    return str(Path(weights).expanduser()), sha256_file(path)


def _check_against_manifest(extractor: Any, spec: ExtractorSpec) -> None:
    e = spec.entry
    said = (e.num_features, e.num_classes)
    built = (extractor.num_features, extractor.num_classes)
    if said != built:
        raise PluginError(f"plugin '{spec.plugin.name}': extractor '{e.name}' gives {built[0]} features and "
                          f"{built[1]} classes, its manifest says {said[0]} and {said[1]}")
