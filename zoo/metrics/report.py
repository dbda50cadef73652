"""Evaluation results for people: score and confusion tables (rich), the confusion-matrix PNG.

Tasks' `describe` builds what `zoo eval` prints from these; the JSON `zoo eval --json` prints is
the task's `report` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any



def scores_table(doc: dict[str, Any]) -> Any:
    """metric, value, detail and seconds of every generator metric in `doc` (`EvalResult.to_dict()`)."""
    from rich.table import Table

    from zoo.metrics.evaluation import METRICS

    table = Table(box=None, header_style="bold")
    for column in ("metric", "value", "detail", "seconds"):
        table.add_column(column, justify="left" if column in ("metric", "detail") else "right")
    seconds = doc.get("seconds", {})
    for m in (k for k in METRICS if k in doc):
        value = doc[m]
        job = "precision_recall" if m in ("precision", "recall") else m
        spent = f"{seconds[job]:.2f}" if job in seconds else ""
        if isinstance(value, dict):
            main, *rest = value.items()
            table.add_row(m, f"{main[1]:.4g}", ", ".join(f"{k} {v:.4g}" for k, v in rest), spent)
        else:
            table.add_row(m, f"{value:.4g}", "", spent)
    return table


def scores_note(model: str, doc: dict[str, Any]) -> str:
    """The line under the scores: how many samples, against what, on which extractor's features."""
    ext = doc["extractor"]
    return (f"{model}: {doc['n']:,} samples against {doc['reference']}, seed {doc['seed']}; extractor "
            f"{ext['name']} (weights sha256 {ext['weights_sha256'][:12]}…), {ext['note']}")


def confusion_table(matrix: list[list[int]], names: list[str], per_class: list[float]) -> Any:
    from rich.table import Table

    short = [n.split(" - ")[0] for n in names]
    table = Table(title="confusion matrix (rows: true, columns: predicted)", box=None, header_style="bold")
    table.add_column("true", justify="right")
    for n in short:
        table.add_column(n, justify="right")
    table.add_column("accuracy", justify="right")
    for i, row in enumerate(matrix):
        table.add_row(short[i], *(f"[bold]{v}[/]" if i == j else str(v) for j, v in enumerate(row)), f"{per_class[i]:.2%}")
    return table


def draw_confusion(matrix: Any, names: list[str], out: Path, title: str) -> Path:
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
