"""`zoo export NAME --weights BUNDLE --format safetensors|onnx|torchscript`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note


@app.command("export")
def export_cmd(
    name: Annotated[str, typer.Argument(help="Pretrained tag (lenet5.mnist), or the model --weights belong to.", autocompletion=complete.model_names)],
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle directory, .safetensors file, tag (lenet5.mnist) or hf:// URL.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="safetensors, onnx or torchscript.", autocompletion=complete.formats)] = "onnx",
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file (default: NAME + the format's extension).")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field: key=value (repeatable).")] = None,
    adapt_head: Annotated[bool, typer.Option("--adapt-head", help="Re-initialise a classifier head whose num_classes differs.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
) -> None:
    """Export a model with its weights; ONNX and TorchScript are checked against PyTorch (1e-4, dynamic batch)."""
    from zoo.config import apply_overrides
    from zoo.export import ExportError
    from zoo.formats import FORMATS
    from zoo.weights.tags import pick_weights

    weights, expect = pick_weights(name, weights)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    target = out or Path(name.replace(":", "_").replace(".", "_") + FORMATS[fmt])
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; pass --overwrite to replace it")

    from zoo.export import export
    from zoo.weights.bundle import check

    model = check(weights, expect=expect, adapt_head=adapt_head, **apply_overrides({}, sets or []))
    if model is None:
        raise ExportError(f"{weights}: carries no zoo model name and config; export a bundle instead")
    result = export(model, fmt, target, overwrite=overwrite)
    if result.max_abs_diff is not None:
        note(f"checked against PyTorch at batch sizes 1 and 3: max |difference| {result.max_abs_diff:.2g}")
    console.print(f"wrote {result.path} ({result.path.stat().st_size:,} bytes, {fmt})", markup=False, highlight=False)
