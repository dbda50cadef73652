"""The listing index: every installed model as a plain row, cached so `zoo list` needs no pydantic.

`zoo list` and shell completion read `$ZOO_HOME/cache/index-<env>.json`, a JSON copy of what
the registry found the last time it validated the manifests. The copy is used only while its
fingerprint still holds: the zoo version, every installed distribution on `sys.path` (its
`.dist-info` and when it was written), and the path, size and modification time of every
manifest it was made from. Anything else re-runs discovery through
pydantic as before (`zoo.registry.discover` writes a fresh index), so the cache can make
listing faster but never different.

This module imports only the standard library: it is the whole cost of a cached `zoo list`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = 2


def zoo_home() -> Path:
    """Where the zoo keeps data, weights and caches: `$ZOO_HOME`, default `~/.cache/zoo`."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def natural_key(text: str) -> list[Any]:
    """Sort 'vgg11' before 'vgg13' before 'vgg16' (digits compare as numbers)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


def index_path() -> Path:
    """One index per Python environment and import path (`python -m zoo` puts the working directory first)."""
    env = f"{zlib.crc32(chr(0).join([sys.prefix, *sys.path]).encode()):08x}"  # zlib: hashlib would load OpenSSL
    return zoo_home() / "cache" / f"index-{env}.json"


def _fingerprint(manifests: Iterable[str]) -> list[Any]:
    from zoo import __version__

    def stat(path: str) -> list[int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns]

    return [FORMAT, __version__, _distributions(), [[m, stat(m)] for m in sorted(manifests)]]


def _distributions() -> int:
    """A checksum of the installed distributions: each `*.dist-info`/`*.egg-info` on `sys.path`
    with its modification time (pip writes a new one on every install, upgrade or reinstall)."""
    checksum = 0
    for directory in sys.path:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:  # a zip file or a missing directory holds no installed distribution
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info", ".egg-link")):
                try:
                    mtime = os.stat(os.path.join(directory, name)).st_mtime_ns
                except OSError:
                    mtime = 0
                checksum = zlib.crc32(f"{directory}/{name}:{mtime}\n".encode(), checksum)
    return checksum


def load_index() -> dict[str, Any] | None:
    """The cached index if it still describes this environment, else None."""
    try:
        doc = json.loads(index_path().read_text())
        if doc["fingerprint"] == _fingerprint(doc["manifests"]):
            return doc
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def save_index(registry: Any) -> None:
    """Write the index of a freshly discovered registry (skipped when the cached one is current)."""
    manifests = [str(p.manifest_path) for p in registry.plugins if p.manifest_path is not None]
    fingerprint = _fingerprint(manifests)
    path = index_path()
    try:
        if json.loads(path.read_text()).get("fingerprint") == fingerprint:
            return
    except (OSError, ValueError, AttributeError):
        pass
    doc = {"fingerprint": fingerprint, "manifests": manifests, **index_rows(registry)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs speed


def index_rows(registry: Any) -> dict[str, Any]:
    """The registry as plain data: model rows, family names, tasks, plugin count and warnings."""
    models = []
    for spec in registry.visible():
        e = spec.entry
        models.append({"name": registry.display_name(spec), "qualified": spec.qualified_name, "task": e.task,
                       "family": e.family, "plugin": spec.plugin.name, "pretrained": [t.tag for t in e.pretrained],
                       "summary": e.summary})
    return {"models": models, "families": sorted(registry.families), "tasks": registry.contribution_names("tasks"), "plugins_ok": sum(p.ok for p in registry.plugins),
            "warnings": list(registry.warnings)}


def select(models: list[dict[str, Any]], patterns: str | Iterable[str] | None = None, task: str | None = None,
           family: str | None = None, pretrained: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(listed name, row) for every model matching any glob pattern and the filters, in natural order.

    With `pretrained=True` each tag is a row of its own, named as in timm (`lenet5.mnist`).
    """
    patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
    found = []
    for row in models:
        if (task and row["task"] != task) or (family and row["family"] != family):
            continue
        if patterns and not any(fnmatch.fnmatchcase(row["name"], p) or fnmatch.fnmatchcase(row["qualified"], p)
                                for p in patterns):
            continue
        if pretrained:
            found.extend((f"{row['name']}.{tag}", row) for tag in row["pretrained"])
        else:
            found.append((row["name"], row))
    return sorted(found, key=lambda item: natural_key(item[0]))


def render_list(found: list[tuple[str, dict[str, Any]]], plugins_ok: int, as_json: bool) -> tuple[str, str]:
    """(stdout text, footer for stderr-free display) of `zoo list`, the same from cache or registry."""
    rows = [{"name": name, "task": r["task"], "family": r["family"], "plugin": r["plugin"],
             "pretrained": list(r["pretrained"]), "summary": r["summary"]} for name, r in found]
    if as_json:
        return json.dumps(rows, indent=2), ""
    if not rows:
        return "no models match", ""
    header = ["name", "task", "family", "plugin", "pretrained", "summary"]
    table = [[r["name"], r["task"], r["family"], r["plugin"], ", ".join(r["pretrained"]), r["summary"]] for r in rows]
    return columns(header, table), f"{len(rows)} models from {plugins_ok} plugins"


def columns(header: list[str], table: list[list[str]]) -> str:
    """A plain aligned table: fast for thousands of rows (a rich Table costs ~1 ms a row)."""
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *table])
