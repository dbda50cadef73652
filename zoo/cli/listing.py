from __future__ import annotations

from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, warn_registry_problems
from zoo.errors import ZooError


@app.command("list")
def list_cmd(
    patterns: Annotated[Optional[list[str]], typer.Argument(help="Glob patterns, e.g. 'vgg*'.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option(help="Only this task.", autocompletion=complete.tasks)] = None,
    family: Annotated[Optional[str], typer.Option(help="Only this family.", autocompletion=complete.families)] = None,
    pretrained: Annotated[bool, typer.Option("--pretrained", help="Only models with pretrained weights, listed as name.tag.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the models of every installed plugin (reads manifests only; imports no torch)."""
    from zoo.index import index_rows, render_list, select
    from zoo.manifest import TASKS
    from zoo.registry import get_registry

    if task is not None and task not in TASKS:
        raise ZooError(f"unknown task '{task}'; allowed: {', '.join(TASKS)}")
    rows = index_rows(get_registry())
    warn_registry_problems()
    found = select(rows["models"], patterns, task=task, family=family, pretrained=pretrained)
    text, footer = render_list(found, rows["plugins_ok"], as_json)
    typer.echo(text)
    if footer:
        console.print(footer, style="dim")
