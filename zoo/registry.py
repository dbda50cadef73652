"""Plugin discovery and name resolution.

Plugins are found through the `zoo.plugins` entry point group; each entry point names a
package and a manifest file inside it (`"zoo_plugins:registry.yaml"`). The package is
located without being imported, so listing costs one YAML read per plugin and imports no
model code (and no torch).

Besides models, a manifest (schema version 3) contributes tasks, objectives and datasets; each
kind is a map of names to entries, resolved like model names (`plugin:name` always exact, a
plain name to the first plugin that claims it, with a warning for the others), and imported
only when used (`load_contribution`). A model whose `task` names no registered task is
skipped with a warning naming the known tasks, as a broken plugin is.

Name resolution, in order: `plugin:model` (always exact), a model name, a family name
(its declared default member). Names compare as pip compares package names: case-blind, with
`-` and `_` alike (`canonical`). When two plugins claim one model name, the built-in plugin
wins, then the plugin whose name sorts first; the others stay reachable as `plugin:model`
and a warning names the collision.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import PluginError, UnknownModelError, ZooError
from zoo.index import natural_key
from zoo.index import save_index
from zoo.manifest import CONTRIBUTIONS, ContributionEntry, FamilyEntry, Manifest, ModelEntry

ENTRY_POINT_GROUP = "zoo.plugins"
BUILTIN_DIST = "zoo"


@dataclass(frozen=True)
class PluginRecord:
    """One discovered plugin: where it came from and whether its manifest is usable."""

    name: str
    source: str
    manifest_path: Path | None
    manifest: Manifest | None = None
    error: str | None = None
    builtin: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def version(self) -> str:
        return self.manifest.plugin.version if self.manifest else ""


@dataclass(frozen=True)
class PluginEntry:
    """A manifest entry (a model, a feature extractor, ...) together with the plugin that provides it."""

    entry: Any
    plugin: PluginRecord

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin.name}:{self.entry.name}"

    @property
    def manifest_dir(self) -> Path:
        assert self.plugin.manifest_path is not None
        return self.plugin.manifest_path.parent


@dataclass(frozen=True)
class ModelSpec(PluginEntry):
    """A model entry together with the plugin that provides it."""

    entry: ModelEntry

    def config_class(self) -> type:
        return import_ref(self.entry.config, self)

    def builder(self) -> Any:
        return import_ref(self.entry.builder, self)


@dataclass(frozen=True)
class ContributionSpec(PluginEntry):
    """A task, objective or dataset entry together with the plugin that provides it."""

    entry: ContributionEntry
    kind: str = "tasks"

    def load(self) -> Any:
        """The object its `code` names (a task class, an objective class, a dataset class)."""
        return import_ref(self.entry.code, self)


_KIND_WORD = {"tasks": "task", "objectives": "objective", "datasets": "dataset"}


def canonical(name: str) -> str:
    """pip's name normalisation, on models, families, plugins and tags: 'WGAN-GP' -> 'wgan_gp'."""
    return re.sub(r"[-_]+", "_", name).lower()


def _canonical_qualified(name: str) -> str:
    plugin, _, model = name.partition(":")
    return f"{canonical(plugin)}:{canonical(model)}"


@dataclass
class Registry:
    plugins: list[PluginRecord] = field(default_factory=list)
    qualified: dict[str, ModelSpec] = field(default_factory=dict)
    by_name: dict[str, ModelSpec] = field(default_factory=dict)
    families: dict[str, tuple[FamilyEntry, PluginRecord]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # kind ('tasks', 'objectives', 'datasets') -> name and `plugin:name` -> entry; canonical keys too
    contributions: dict[str, dict[str, ContributionSpec]] = field(default_factory=lambda: {k: {} for k in CONTRIBUTIONS})
    skipped: dict[str, list[str]] = field(default_factory=dict)  # plugin -> why some of its entries were left out
    # The same maps keyed by canonical names, for what users type.
    _qualified_key: dict[str, ModelSpec] = field(default_factory=dict)
    _name_key: dict[str, ModelSpec] = field(default_factory=dict)
    _family_key: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> tuple[ModelSpec, str | None]:
        """Return (spec, note); the note says when a family name picked its default member."""
        if ":" in name:
            spec = self.qualified.get(name) or self._qualified_key.get(_canonical_qualified(name))
            if spec is None:
                raise UnknownModelError(self._unknown_message(name))
            return spec, None
        spec = self.by_name.get(name) or self._name_key.get(canonical(name))
        if spec is not None:
            return spec, None
        family = self._family_key.get(canonical(name))
        if family is not None:
            fam, plugin = self.families[family]
            spec = self.qualified[f"{plugin.name}:{fam.default}"]
            return spec, f"'{name}' is a family; using its default member '{fam.default}'"
        raise UnknownModelError(self._unknown_message(name))

    def members(self, family: str) -> list[ModelSpec]:
        return [s for s in self.visible() if s.entry.family == family]

    def visible(self) -> list[ModelSpec]:
        """Every model once: winners under their plain name, collision losers qualified."""
        return list(self.qualified.values())

    def display_name(self, spec: ModelSpec) -> str:
        return spec.name if self.by_name.get(spec.name) is spec else spec.qualified_name

    def contribution(self, kind: str, name: str) -> ContributionSpec:
        """The `kind` entry called `name` (plain or `plugin:name`; case and `-`/`_` forgiven), or a ZooError
        naming the known ones."""
        table = self.contributions[kind]
        key = _canonical_qualified(name) if ":" in name else canonical(name)
        spec = table.get(name) or table.get(key)
        if spec is None:
            known = self.contribution_names(kind)
            close = _close_names(name, known)[:2]
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            raise UnknownContributionError(f"unknown {_KIND_WORD[kind]} '{name}'{hint} (known: {', '.join(known) or 'none'})")
        return spec

    def contribution_names(self, kind: str) -> list[str]:
        """Every `kind` entry once: plain names of the winners, `plugin:name` of collision losers."""
        table = self.contributions[kind]
        shown = []
        for key, spec in table.items():
            if ":" in key and key == spec.qualified_name:
                shown.append(spec.name if table.get(spec.name) is spec else spec.qualified_name)
        return sorted(shown, key=natural_key)

    def _unknown_message(self, name: str) -> str:
        models = [self.display_name(s) for s in self.visible()]
        close = _close_names(name, list(dict.fromkeys([*models, *self.families])))[:2]
        hint = f"; did you mean: {', '.join(close)}" if close else "; see `zoo list`"
        return f"no model '{name}'{hint}"


def _close_names(name: str, candidates: list[str]) -> list[str]:
    """Similar names, most similar first; among equals the nearest number wins (vgg17: vgg16, vgg19)."""
    def number(text: str) -> int | None:
        digits = re.findall(r"\d+", text)
        return int(digits[-1]) if digits else None

    key = canonical(name)
    scored = [(difflib.SequenceMatcher(None, key, canonical(c)).ratio(), c) for c in candidates]
    target = number(key)

    def rank(item: tuple[float, str]) -> tuple:
        ratio, cand = item
        n = number(cand)
        gap = abs(n - target) if n is not None and target is not None else float("inf")
        return (-round(ratio, 6), gap, cand)

    return [c for r, c in sorted(scored, key=rank) if r >= 0.7]


class UnknownContributionError(ZooError, LookupError):
    """A task, objective or dataset name that no plugin provides."""


def import_ref(ref: str, spec: PluginEntry | None = None) -> Any:
    """Import 'module:attr'; a failure is a PluginError naming the plugin and the reference."""
    module_name, _, attr = ref.partition(":")
    owner = f"plugin '{spec.plugin.name}' ({spec.name}): " if spec else ""
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # a broken plugin must not take the zoo down
        raise PluginError(f"{owner}cannot import {module_name}: {type(err).__name__}: {err}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{owner}{module_name} has no attribute '{attr}'") from None


def _locate_manifest(value: str) -> Path:
    """'package:file.yaml' -> path of the file inside the package, without importing it."""
    package, sep, filename = value.partition(":")
    if not sep or not filename:
        raise PluginError(f"entry point value must be 'package:manifest.yaml', got {value!r}")
    spec = _find_spec(package)
    if spec is None:
        raise PluginError(f"package '{package}' is not installed")
    if spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin:
        base = Path(spec.origin).parent
    else:
        raise PluginError(f"package '{package}' has no location on disk")
    return base / filename


@functools.lru_cache(maxsize=None)
def _find_spec(top_level: str) -> Any:
    """Spec of a top-level module (finding it imports nothing), or None."""
    try:
        return importlib.util.find_spec(top_level)
    except (ImportError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _package_dir(package: str) -> Path | None:
    spec = _find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def _module_exists(module: str) -> bool:
    """Whether a module's source can be found, checked on disk without importing anything."""
    top, _, rest = module.partition(".")
    if not rest:
        return top in sys.modules or _find_spec(top) is not None
    base = _package_dir(top)
    if base is None:
        return False
    path = base.joinpath(*rest.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() or any(
        path.parent.glob(f"{path.name}.*.so"))


def _load_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


class _ParsedManifests:
    """Parsed manifest YAML kept in `$ZOO_HOME/cache/`, keyed by path, size and mtime.

    Parsing YAML costs ~4 ms per manifest in Python, which dominates `zoo list` with many
    plugins; the cached documents are validated again on every use, so the cache can only
    save time, never change a result. Entries of deleted manifests are dropped when the
    cache is next written; an unwritable cache is ignored.
    """

    def __init__(self) -> None:
        from zoo.config import zoo_home

        env = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]  # one cache per Python environment
        self.path = zoo_home() / "cache" / f"manifests-{env}.json"
        try:
            self.entries: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def load(self, path: Path) -> Any:
        stat = path.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        hit = self.entries.get(str(path))
        if hit is not None and hit[0] == key:
            return hit[1]
        data = _load_yaml(path)
        self.entries[str(path)] = [key, data]
        self.changed = True
        return data

    def save(self) -> None:
        if not self.changed:
            return
        live = {k: v for k, v in self.entries.items() if Path(k).is_file()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(live, default=str))
            os.replace(tmp, self.path)
        except OSError:
            pass


def read_manifest(path: Path, parsed: _ParsedManifests | None = None) -> Manifest:
    """Read and validate one manifest file; errors name the file, the entry and the reason."""
    from pydantic import ValidationError

    try:
        data = parsed.load(path) if parsed else _load_yaml(path)
    except FileNotFoundError:
        raise PluginError(f"{path}: manifest file not found") from None
    except Exception as err:  # yaml.YAMLError and OSError alike
        raise PluginError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as err:
        raise PluginError(f"{path}: {_describe_manifest_error(err, data)}") from None


def _describe_manifest_error(err: Any, data: Any) -> str:
    reasons = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] in ("models", "families") and isinstance(loc[1], int):
            try:
                entry_name = data[loc[0]][loc[1]].get("name", "?")
            except (AttributeError, IndexError, KeyError, TypeError):
                entry_name = "?"
            where = f"{loc[0]}[{loc[1]}] '{entry_name}'"
            loc = loc[2:]
        field_path = ".".join(str(p) for p in loc)
        msg = e["msg"]
        text = " ".join(x for x in (where, field_path) if x)
        reasons.append(f"{text}: {msg}" if text else msg)
    return "invalid manifest: " + "; ".join(reasons)


def _entry_points() -> list[tuple[str, str, str, bool]]:
    """(entry point name, value, source, builtin) for every `zoo.plugins` entry point."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist_name, version = _name_and_version(getattr(ep, "dist", None))
        builtin = dist_name == BUILTIN_DIST
        source = "built-in" if builtin else f"{dist_name} {version}".strip()
        found.append((ep.name, ep.value, source, builtin))
    # Built-ins first, then by entry point name: this order decides plain-name collisions.
    found.sort(key=lambda t: (not t[3], t[0]))
    return list(dict.fromkeys(found))


def _name_and_version(dist: Any) -> tuple[str, str]:
    """Name and Version from the head of a distribution's METADATA.

    `dist.metadata` parses the whole file as an e-mail message (~0.2 ms a distribution);
    both fields sit in its first lines.
    """
    text = (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "") if dist is not None else ""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version"):
            fields[key] = value.strip()
    return fields.get("Name", "?"), fields.get("Version", "")


def discover() -> Registry:
    reg = Registry()
    parsed = _ParsedManifests()
    for ep_name, value, source, builtin in _entry_points():
        try:
            path = _locate_manifest(value)
            manifest = read_manifest(path, parsed)
        except PluginError as err:
            reg.plugins.append(PluginRecord(ep_name, source, None, error=str(err), builtin=builtin))
            reg.warnings.append(f"plugin '{ep_name}' ({source}) skipped: {err}")
            continue
        _add_plugin(reg, PluginRecord(manifest.plugin.name, source, path, manifest, builtin=builtin))
    _drop_models_of_unknown_tasks(reg)
    parsed.save()
    save_index(reg)
    return reg


def _add_plugin(reg: Registry, plugin: PluginRecord) -> None:
    assert plugin.manifest is not None
    if any(p.ok and canonical(p.name) == canonical(plugin.name) for p in reg.plugins):
        reg.plugins.append(PluginRecord(plugin.name, plugin.source, plugin.manifest_path,
                                        error=f"plugin name '{plugin.name}' is already taken", builtin=plugin.builtin))
        reg.warnings.append(f"plugin '{plugin.name}' ({plugin.source}) skipped: another plugin has that name")
        return
    reg.plugins.append(plugin)
    modules = {ref.partition(":")[0] for e in plugin.manifest.models for ref in (e.config, e.builder)}
    for module in sorted(m for m in modules if not _module_exists(m)):
        reg.warnings.append(f"plugin '{plugin.name}' ({plugin.source}): module '{module}' named in "
                            f"{plugin.manifest_path} is not installed; its models will not build")
    for entry in plugin.manifest.models:
        spec = ModelSpec(entry, plugin)
        reg.qualified[spec.qualified_name] = spec
        reg._qualified_key[_canonical_qualified(spec.qualified_name)] = spec
        holder = reg.by_name.get(entry.name)
        if holder is None:
            reg.by_name[entry.name] = spec
            reg._name_key[canonical(entry.name)] = spec
        else:
            reg.warnings.append(
                f"model '{entry.name}' is provided by plugins '{holder.plugin.name}' and '{plugin.name}'; "
                f"'{entry.name}' means {holder.qualified_name}, use {spec.qualified_name} for the other"
            )
    for fam in plugin.manifest.families:
        reg.families.setdefault(fam.name, (fam, plugin))
        reg._family_key.setdefault(canonical(fam.name), fam.name)
    for kind in CONTRIBUTIONS:
        _add_contributions(reg, plugin, kind)


def _add_contributions(reg: Registry, plugin: PluginRecord, kind: str) -> None:
    """A plugin's tasks, objectives or datasets; a name an earlier plugin took stays reachable as `plugin:name`."""
    table = reg.contributions[kind]
    entries = getattr(plugin.manifest, kind)
    for module in sorted({e.code.partition(":")[0] for e in entries}):
        if not _module_exists(module):
            reg.warnings.append(f"plugin '{plugin.name}' ({plugin.source}): module '{module}' named in "
                                f"{plugin.manifest_path} is not installed; its {kind} will not load")
    for entry in entries:
        spec = ContributionSpec(entry, plugin, kind)
        table[spec.qualified_name] = spec
        table.setdefault(_canonical_qualified(spec.qualified_name), spec)
        holder = table.get(entry.name)
        if holder is None:
            table[entry.name] = spec
            table.setdefault(canonical(entry.name), spec)
        else:
            reg.warnings.append(
                f"{_KIND_WORD[kind]} '{entry.name}' is provided by plugins '{holder.plugin.name}' and '{plugin.name}'; "
                f"'{entry.name}' means {holder.qualified_name}, use {spec.qualified_name} for the other")


def _drop_models_of_unknown_tasks(reg: Registry) -> None:
    """A model whose task no plugin registers cannot train, sample or evaluate: skipped, with a warning."""
    tasks = reg.contributions["tasks"]
    known = reg.contribution_names("tasks")
    for qualified, spec in list(reg.qualified.items()):
        task = spec.entry.task
        if task in tasks or canonical(task) in tasks:
            continue
        del reg.qualified[qualified]
        reg._qualified_key.pop(_canonical_qualified(qualified), None)
        if reg.by_name.get(spec.name) is spec:
            del reg.by_name[spec.name]
            reg._name_key.pop(canonical(spec.name), None)
        close = _close_names(task, known)[:1]
        hint = f"did you mean '{close[0]}'? " if close else ""
        why = f"model '{spec.name}' skipped: unknown task '{task}' ({hint}known tasks: {', '.join(known) or 'none'})"
        reg.skipped.setdefault(spec.plugin.name, []).append(why)
        reg.warnings.append(f"plugin '{spec.plugin.name}': {why}")


_REGISTRY: Registry | None = None


def contribution(kind: str, name: str) -> ContributionSpec:
    """The registered task, objective or dataset (`kind`: 'tasks', 'objectives', 'datasets') called `name`."""
    return get_registry().contribution(kind, name)


def load_contribution(kind: str, name: str) -> Any:
    """Import what the `kind` entry `name` names (a task class, an objective class, a dataset class).

    An unknown name, or code that does not import, is a ZooError naming it (exit code 2 in the CLI).
    """
    return contribution(kind, name).load()


def contribution_names(kind: str) -> list[str]:
    """The names of every registered `kind` entry, in natural order."""
    return get_registry().contribution_names(kind)


def get_registry() -> Registry:
    """The process-wide registry, discovered on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = discover()
    return _REGISTRY


def refresh() -> Registry:
    """Forget the discovered plugins and look again (after installing a plugin)."""
    global _REGISTRY
    importlib.invalidate_caches()
    _package_dir.cache_clear()
    _find_spec.cache_clear()
    _REGISTRY = None
    return get_registry()
