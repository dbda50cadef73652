from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note, print_json


def model_overrides(config_file: Optional[Path], sets: list[str]) -> dict:
    """Model config fields from a config file (plain fields, or a run config's `model.config`) and `--set`s."""
    from zoo.config import apply_overrides, load_config_file

    doc = load_config_file(config_file) if config_file else {}
    if isinstance(doc.get("model"), dict) and isinstance(doc["model"].get("config"), dict):
        doc = doc["model"]["config"]
    return apply_overrides(doc, sets)


@app.command("build")
def build_cmd(
    name: Annotated[str, typer.Argument(help="Model or family name (or plugin:model).", autocompletion=complete.model_names)],
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML or JSON file of config fields.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field: key=value (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate a config, build the model, and print its layers, parameter count and output shape."""
    from zoo.api import build, config_for, resolve

    spec, family_note = resolve(name)
    if family_note:
        note(family_note)
    config = config_for(spec, model_overrides(config_file, sets or []))

    import torch

    from zoo.summary import count_parameters, layer_summary, output_shapes

    model = build(spec, config)
    example = torch.zeros(1, *config.input_shape())
    rows, out = layer_summary(model, example)
    total, trainable = count_parameters(model), count_parameters(model, trainable_only=True)
    if as_json:
        print_json({"model": spec.qualified_name, "config": config.model_dump(), "params": total,
                    "trainable_params": trainable, "input_shape": list(example.shape),
                    "output_shape": output_shapes(out),
                    "layers": [{"name": r.name, "type": r.kind, "output_shape": r.output_shape, "params": r.params} for r in rows]})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("layer", "type", "output shape", "params"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for r in rows:
        table.add_row(r.name, r.kind, str(r.output_shape), f"{r.params:,}")
    console.print(table, highlight=False)
    console.print(f"{spec.qualified_name}: {total:,} parameters ({trainable:,} trainable); "
                  f"input {tuple(example.shape)} -> output {output_shapes(out)}", highlight=False, markup=False)
