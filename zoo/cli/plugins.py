from __future__ import annotations

from typing import Annotated

import typer

from zoo.cli.app import app, console, print_json


@app.command("plugins")
def plugins_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every discovered plugin: source, model count, the tasks, objectives and datasets it contributes, and whether
    its manifest and code load."""
    from zoo.manifest import CONTRIBUTIONS
    from zoo.registry import get_registry

    rows = []
    reg = get_registry()
    for plugin in reg.plugins:
        skipped = reg.skipped.get(plugin.name) if plugin.ok else None
        status = plugin.error or (f"error: {'; '.join(skipped)}" if skipped else _code_status(plugin))
        m = plugin.manifest
        rows.append({"plugin": plugin.name, "version": plugin.version, "source": plugin.source,
                     "models": len(m.models) if m else 0,
                     **{kind: [e.name for e in getattr(m, kind)] if m else [] for kind in CONTRIBUTIONS},
                     "manifest": str(plugin.manifest_path or ""), "status": status})
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("plugin", "version", "source", "models", "contributes", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = "green" if r["status"] == "ok" else "red"
        contributes = "; ".join(f"{kind}: {', '.join(r[kind])}" for kind in CONTRIBUTIONS if r[kind])
        table.add_row(r["plugin"], r["version"], r["source"], str(r["models"]), contributes or "-",
                      f"[{style}]{r['status']}[/]", style=None)
    console.print(table, highlight=False)


def _code_status(plugin) -> str:
    """'ok', or the first model config/builder or contribution code reference that does not import."""
    from zoo.errors import PluginError
    from zoo.manifest import CONTRIBUTIONS
    from zoo.registry import import_ref

    refs = [(e.name, ref) for e in plugin.manifest.models for ref in (e.config, e.builder)]
    refs += [(e.name, e.code) for kind in CONTRIBUTIONS for e in getattr(plugin.manifest, kind)]
    for name, ref in refs:
        try:
            import_ref(ref)
        except PluginError as err:
            return f"error: {name}: {err}"
    return "ok"
