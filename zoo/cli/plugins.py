from __future__ import annotations

from typing import Annotated

import typer

from zoo.cli.app import app, console, print_json


@app.command("plugins")
def plugins_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every discovered plugin: source, model count, and whether its manifest and code load."""
    from zoo.registry import get_registry

    rows = []
    for plugin in get_registry().plugins:
        status = plugin.error or _code_status(plugin)
        rows.append({"plugin": plugin.name, "version": plugin.version, "source": plugin.source,
                     "models": len(plugin.manifest.models) if plugin.manifest else 0,
                     "manifest": str(plugin.manifest_path or ""), "status": status})
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("plugin", "version", "source", "models", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = "green" if r["status"] == "ok" else "red"
        table.add_row(r["plugin"], r["version"], r["source"], str(r["models"]), f"[{style}]{r['status']}[/]")
    console.print(table, highlight=False)


def _code_status(plugin) -> str:
    """'ok', or the first config/builder reference that does not import."""
    from zoo.errors import PluginError
    from zoo.registry import import_ref

    for entry in plugin.manifest.models:
        for ref in (entry.config, entry.builder):
            try:
                import_ref(ref)
            except PluginError as err:
                return f"error: {entry.name}: {err}"
    return "ok"
