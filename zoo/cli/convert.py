"""`zoo convert`: a torchvision or timm state dict -> a zoo weights bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console


@app.command("convert")
def convert_cmd(
    source: Annotated[Path, typer.Argument(help="torchvision/timm weights: .safetensors, or .pth/.pt read with weights_only=True.")],
    model: Annotated[str, typer.Argument(help="Zoo model to convert into (vgg11…vgg19(_bn), alexnet_torchvision, googlenet_torchvision).")],
    out: Annotated[Path, typer.Option("--out", help="Bundle directory to write.")],
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field: key=value (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
) -> None:
    """Load torchvision/timm weights into a zoo model (names and shapes checked) and write a weights bundle."""
    from zoo.config import apply_overrides
    from zoo.convert import convert_file

    path = convert_file(model, source, out, overwrite=overwrite, **apply_overrides({}, sets or []))
    console.print(f"wrote {path}", markup=False, highlight=False)
