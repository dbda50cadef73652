from __future__ import annotations

from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_columns, print_json, warn_registry_problems
from zoo.errors import ZooError


@app.command("list")
def list_cmd(
    patterns: Annotated[Optional[list[str]], typer.Argument(help="Glob patterns, e.g. 'vgg*'.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option(help="Only this task.")] = None,
    family: Annotated[Optional[str], typer.Option(help="Only this family.")] = None,
    pretrained: Annotated[bool, typer.Option("--pretrained", help="Only models with pretrained weights, listed as name.tag.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the models of every installed plugin (reads manifests only; imports no torch)."""
    from zoo.api import matching_models
    from zoo.manifest import TASKS
    from zoo.registry import get_registry

    if task is not None and task not in TASKS:
        raise ZooError(f"unknown task '{task}'; allowed: {', '.join(TASKS)}")
    found = matching_models(patterns, task=task, family=family, pretrained=pretrained)
    warn_registry_problems()
    reg = get_registry()
    rows = []
    for name, spec in found:
        e = spec.entry
        rows.append({"name": name, "task": e.task, "family": e.family, "plugin": spec.plugin.name,
                     "pretrained": [t.tag for t in e.pretrained], "summary": e.summary})
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no models match")
        return
    print_columns([[r["name"], r["task"], r["family"], r["plugin"], ", ".join(r["pretrained"]), r["summary"]]
                   for r in rows], ["name", "task", "family", "plugin", "pretrained", "summary"])
    console.print(f"{len(rows)} models from {sum(p.ok for p in reg.plugins)} plugins", style="dim")
