from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_json


@app.command("eval")
def eval_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Model name (checked against the weights; optional).")] = None,
    weights: Annotated[str, typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, or tag.")] = ...,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset (default: the one the weights were trained on).")] = None,
    split: Annotated[str, typer.Option("--split", help="Split to evaluate: test, val or train.")] = "test",
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Evaluate on the first N examples only.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Confusion-matrix PNG (default confusion-<model>-<data>.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate trained weights: accuracy, per-class accuracy and the confusion matrix (table and PNG)."""
    from zoo.engine.inference import load_eval_split, load_trained
    from zoo.errors import ZooError

    loaded = load_trained(weights, name, data)
    task = loaded.task
    if not hasattr(task, "confusion"):
        raise ZooError(f"zoo eval does not support task '{type(task).__name__}' yet")
    examples = load_eval_split(loaded, split, limit)
    matrix = task.confusion(examples)
    names = task.class_names()
    accuracy = float(matrix.diag().sum() / matrix.sum())
    per_class = [float(matrix[i, i] / row) if (row := matrix[i].sum()) else float("nan") for i in range(len(matrix))]
    target = out or Path(f"confusion-{loaded.model.zoo_name.split(':')[-1]}-{task.data_config.name}.png")
    draw_confusion(matrix, names, target, f"{loaded.model.zoo_name} on {task.data_config.name} {split}: {accuracy:.2%}")
    if as_json:
        print_json({"model": loaded.model.zoo_name, "weights": loaded.source, "data": task.data_config.name,
                    "split": split, "examples": int(matrix.sum()), "accuracy": accuracy,
                    "per_class_accuracy": dict(zip(names, per_class)), "confusion_matrix": matrix.tolist(),
                    "png": str(target)})
        return
    print_tables(matrix, names, per_class)
    console.print(f"{loaded.model.zoo_name} on {task.data_config.name} {split} ({int(matrix.sum()):,} examples): "
                  f"accuracy {accuracy:.2%}; confusion matrix PNG: {target}", markup=False, highlight=False)


def print_tables(matrix, names: list[str], per_class: list[float]) -> None:
    from rich.table import Table

    short = [n.split(" - ")[0] for n in names]
    table = Table(title="confusion matrix (rows: true, columns: predicted)", box=None, header_style="bold")
    table.add_column("true", justify="right")
    for n in short:
        table.add_column(n, justify="right")
    table.add_column("accuracy", justify="right")
    for i, row in enumerate(matrix.tolist()):
        table.add_row(short[i], *(f"[bold]{v}[/]" if i == j else str(v) for j, v in enumerate(row)), f"{per_class[i]:.2%}")
    console.print(table)


def draw_confusion(matrix, names: list[str], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(names)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * k, 1 + 0.5 * k))
    ax.imshow(matrix.numpy(), cmap="Blues")
    for i in range(k):
        for j in range(k):
            v = int(matrix[i, j])
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > matrix.max() / 2 else "black")
    short = [n.split(" - ")[0] for n in names]
    ax.set_xticks(range(k), short)
    ax.set_yticks(range(k), short)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
