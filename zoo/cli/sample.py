from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console


@app.command("sample")
def sample_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Pretrained tag (dcgan.mnist), or the model --weights belong to.")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="Number of samples in the grid.")] = 64,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("samples.png"),
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset to draw examples from, for tasks that need one.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which examples / noise are drawn.")] = 0,
) -> None:
    """Write a grid of what the model does (a classifier: test images titled with predicted and true labels)."""
    from zoo.engine.inference import load_eval_split, load_trained

    loaded = load_trained(weights, name, data)
    task = loaded.task
    examples = load_eval_split(loaded, task.sample_split) if task.sample_split else None
    path = task.sample(examples, n, out, seed=seed)
    console.print(f"wrote {path}", markup=False, highlight=False)
