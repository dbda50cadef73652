from __future__ import annotations

from typing import Annotated

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note, print_json


@app.command("info")
def info_cmd(
    name: Annotated[str, typer.Argument(help="Model or family name (or plugin:model).", autocompletion=complete.model_names)],
    schema: Annotated[bool, typer.Option("--schema", help="Print the config's JSON schema.")] = False,
) -> None:
    """Summary, paper, task, plugin, parameter count, config fields and pretrained tags of a model."""
    from zoo.api import config_for, model_info, resolve
    from zoo.registry import get_registry

    spec, _ = resolve(name)
    info = model_info(name)
    config = config_for(spec)
    if schema:
        print_json(type(config).model_json_schema())
        return
    if info.note:
        note(info.note)
    from rich.table import Table

    from zoo.summary import count_parameters_for

    reg = get_registry()
    if name in reg.families:
        fam, _plugin = reg.families[name]
        console.print(f"[bold]{fam.name}[/] family: {fam.summary}")
        console.print(f"members: {', '.join(info.family_members)} (default: {fam.default})")
        console.print()
    console.print(f"[bold]{info.name}[/] — {info.summary}", highlight=False)
    facts = [
        ("task", info.task), ("family", f"{info.family} ({', '.join(info.family_members)})"),
        ("plugin", f"{info.plugin} {info.plugin_version} ({info.source})"), ("paper", info.paper or "—"),
        ("input", f"{info.in_chans}×{info.input_size}×{info.input_size}"),
        ("parameters", f"{count_parameters_for(spec, config):,} at the default config"),
        ("pretrained", ", ".join(f"{info.name}.{t.tag}" for t in info.pretrained) or "—"),
    ]
    for key, value in facts:
        console.print(f"  {key:<11} {value}", highlight=False, markup=False)
    table = Table(title="config", box=None, header_style="bold", title_justify="left")
    for col in ("field", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    values = config.model_dump()
    for field_name, field in type(config).model_fields.items():
        table.add_row(field_name, _type_name(field.annotation), repr(values[field_name]), field.description or "")
    console.print(table)


def _type_name(annotation: object) -> str:
    from typing import Literal, get_args, get_origin

    if get_origin(annotation) is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")
