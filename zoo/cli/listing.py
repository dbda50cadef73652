from __future__ import annotations

import json

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
    extractors: Annotated[bool, typer.Option("--extractors", help="List the feature extractors generative metrics use instead.")] = False,
    text_encoders: Annotated[bool, typer.Option("--text-encoders", help="List the text encoders text-to-image models condition on instead.")] = False,
    tasks: Annotated[bool, typer.Option("--tasks", help="List the registered tasks (what a model's `task` names) instead.")] = False,
    objectives: Annotated[bool, typer.Option("--objectives", help="List the registered adversarial objectives (a GAN config's `objective`) instead.")] = False,
    datasets: Annotated[bool, typer.Option("--datasets", help="List the registered datasets (`--data NAME`) instead.")] = False,
) -> None:
    """List the models of every installed plugin (reads manifests only; imports no torch)."""
    from zoo.index import index_rows, render_list, select
    from zoo.registry import get_registry

    if extractors:
        _list_extractors(as_json)
        return
    if text_encoders:
        _list_text_encoders(as_json)
        return
    for kind, asked in (("tasks", tasks), ("objectives", objectives), ("datasets", datasets)):
        if asked:
            _list_contributions(kind, as_json)
            return
    if task is not None:
        get_registry().contribution("tasks", task)  # one line naming the known tasks
    rows = index_rows(get_registry())
    warn_registry_problems()
    found = select(rows["models"], patterns, task=task, family=family, pretrained=pretrained)
    text, footer = render_list(found, rows["plugins_ok"], as_json)
    typer.echo(text)
    if footer:
        console.print(footer, style="dim")


def _list_extractors(as_json: bool) -> None:
    from zoo.metrics.extractors import list_extractors

    header = ["name", "plugin", "kind", "input", "features", "classes", "weights", "summary"]
    _list_entries(list_extractors(), as_json, header, lambda r: [
        r["name"], r["plugin"], r["kind"], f"{r['in_chans']}x{r['input_size']}x{r['input_size']}",
        str(r["num_features"]), str(r["num_classes"] or "-"), r["weights"], r["summary"]])


def _list_text_encoders(as_json: bool) -> None:
    from zoo.text.encoders import list_text_encoders

    header = ["name", "plugin", "dim", "trainable", "package", "summary"]
    _list_entries(list_text_encoders(), as_json, header, lambda r: [
        r["name"], r["plugin"], str(r["dim"]), "yes" if r["trainable"] else "no", r["package"] or "-", r["summary"]])


def _list_contributions(kind: str, as_json: bool) -> None:
    """The tasks, objectives or datasets of every plugin, from manifests only."""
    from zoo.registry import get_registry

    reg = get_registry()
    rows = []
    for name in reg.contribution_names(kind):
        spec = reg.contribution(kind, name)
        rows.append({"name": name, "plugin": spec.plugin.name, "code": spec.entry.code, "summary": spec.entry.summary})
    if kind == "tasks":
        models = [s.entry.task for s in reg.visible()]
        for row in rows:
            row["models"] = sum(reg.contribution("tasks", t) is reg.contribution("tasks", row["name"]) for t in models)
    warn_registry_problems()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    header = ["name", "plugin", *(["models"] if kind == "tasks" else []), "summary"]
    typer.echo(_columns(header, [[r["name"], r["plugin"], *([str(r["models"])] if kind == "tasks" else []), r["summary"]]
                                 for r in rows]))


def _columns(header: list[str], table: list[list[str]]) -> str:
    from zoo.index import columns

    return columns(header, table)


def _list_entries(entries: list, as_json: bool, header: list[str], cells) -> None:
    """Registry entries other than models (dataclass rows) as JSON or as aligned columns of `cells(row)`."""
    from dataclasses import asdict

    from zoo.index import columns

    rows = [asdict(r) for r in entries]
    warn_registry_problems()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(columns(header, [cells(r) for r in rows]))
