from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_json


@app.command("eval")
def eval_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Model, or model.tag for pretrained weights (checked against --weights).")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, or tag.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset (default: the one the weights were trained on).")] = None,
    split: Annotated[str, typer.Option("--split", help="Classifiers: split to evaluate (test, val or train).")] = "test",
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Classifiers, autoencoders and VAEs: the first N test examples only.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Classifiers: confusion-matrix PNG (default confusion-<model>-<data>.png).")] = None,
    n: Annotated[int, typer.Option("--n", help="Generators: images to draw (the reference is cut to as many).")] = 10_000,
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Generators: comma-separated, from fid,is,mode_score,kid,mmd,one_nn,wasserstein,precision,recall (default: all).")] = None,
    reference: Annotated[Optional[str], typer.Option("--reference", help="Generators: DATASET[:SPLIT] to compare with (default: the weights' dataset, test split).")] = None,
    extractor: Annotated[str, typer.Option("--extractor", help="Generators: feature extractor (`zoo list --extractors`).")] = "lenet5_mnist",
    extractor_weights: Annotated[Optional[str], typer.Option("--extractor-weights", help="Generators: local weights file for the extractor (never downloaded).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Generators: seed of the samples, reference rows and metric subsets.")] = 0,
    iw_samples: Annotated[Optional[int], typer.Option("--iw-samples", help="VAEs: importance samples per image of the IWAE NLL estimate (default 100).")] = None,
    latent_map: Annotated[Optional[Path], typer.Option("--latent-map", help="Autoencoders/VAEs: PNG scatter of the codes coloured by class (PCA beyond 2-d).")] = None,
    linear_probe: Annotated[bool, typer.Option("--linear-probe", help="Autoencoders/VAEs: test accuracy of a linear classifier on the frozen codes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate trained weights: a classifier's accuracy and confusion matrix; a generator's FID, IS, Mode Score, KID, MMD, 1-NN, Wasserstein and precision/recall."""
    from zoo.engine.inference import load_trained
    from zoo.metrics.evaluation import METRICS, parse_metrics

    wanted = parse_metrics(metrics or METRICS)  # bad names fail before anything is loaded
    code_options = check_code_options(iw_samples, latent_map, linear_probe)
    loaded = load_trained(weights, name, data)
    if hasattr(loaded.task, "report") and metrics is None:
        eval_codes(loaded, split, limit, iw_samples, latent_map, linear_probe, as_json)
    elif code_options:
        from zoo.errors import ZooError

        raise ZooError(f"{', '.join(code_options)}: {loaded.model.zoo_name} has no codes (needs an autoencoder or VAE"
                       f"{', without --metrics' if hasattr(loaded.task, 'report') else ''})")
    elif hasattr(loaded.task, "consistency"):  # text-to-image: FID unless --metrics, and whether images follow the text
        eval_text_to_image(loaded, parse_metrics(metrics or "fid"), n, reference or f"{loaded.task.data_config.name}:test",
                           extractor, extractor_weights, seed, as_json)
    elif callable(getattr(loaded.model, "sample", None)):
        eval_generator(loaded, wanted, n, reference or f"{loaded.task.data_config.name}:test", extractor,
                       extractor_weights, seed, as_json)
    else:
        eval_classifier(loaded, split, limit, out, as_json)


def eval_generator(loaded, metrics: tuple[str, ...], n: int, reference: str, extractor: str,
                   extractor_weights: Optional[str], seed: int, as_json: bool) -> None:
    """Every asked metric of the generator's samples against `reference`, with a progress bar on stderr."""
    from zoo.metrics.evaluation import evaluate

    with StageBar() as bar:
        result = evaluate(loaded.model, reference, metrics=metrics, extractor=extractor,
                          extractor_weights=extractor_weights, n=n, seed=seed, progress=bar)
    doc = result.to_dict()
    if as_json:
        print_json({"model": loaded.model.zoo_name, "weights": loaded.source, **doc})
        return
    print_scores(doc, metrics)
    console.print(f"{loaded.model.zoo_name}: {result.n:,} samples against {reference}, seed {seed}; extractor "
                  f"{result.extractor} (weights sha256 {result.extractor_weights_sha256[:12]}…), {result.note}",
                  markup=False, highlight=False)


def eval_text_to_image(loaded, metrics: tuple[str, ...], n: int, reference: str, extractor: str,
                       extractor_weights: Optional[str], seed: int, as_json: bool) -> None:
    """Text-image consistency (training and held-out phrasings), thickness/slant agreement, then the generator metrics."""
    from zoo.metrics.evaluation import evaluate

    with StageBar() as bar:
        bar.stage("text-image consistency", None)
        text = loaded.task.consistency(seed=seed)
        result = evaluate(loaded.model, reference, metrics=metrics, extractor=extractor,
                          extractor_weights=extractor_weights, n=n, seed=seed, progress=bar)
    doc = result.to_dict()
    if as_json:
        print_json({"model": loaded.model.zoo_name, "weights": loaded.source, **text, **doc})
        return
    for key, value in text.items():
        console.print(f"{key:<26} {value:.2%}", markup=False, highlight=False)
    print_scores(doc, metrics)
    console.print(f"{loaded.model.zoo_name}: consistency by lenet5.mnist on prompts of every digit; {result.n:,} samples "
                  f"against {reference} for {', '.join(metrics)}, seed {seed}; {result.note}", markup=False, highlight=False)


def eval_classifier(loaded, split: str, limit: Optional[int], out: Optional[Path], as_json: bool) -> None:
    """Accuracy, per-class accuracy and the confusion matrix (table and PNG)."""
    from zoo.engine.inference import load_eval_split
    from zoo.errors import ZooError

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


def check_code_options(iw_samples: Optional[int], latent_map: Optional[Path], linear_probe: bool) -> list[str]:
    """The autoencoder/VAE options given; --iw-samples below 1 is refused before anything loads."""
    from zoo.errors import ZooError

    if iw_samples is not None and iw_samples < 1:
        raise ZooError(f"--iw-samples must be at least 1, got {iw_samples}")
    given = {"--iw-samples": iw_samples is not None, "--latent-map": latent_map is not None, "--linear-probe": linear_probe}
    return [k for k, v in given.items() if v]


def eval_codes(loaded, split: str, limit: Optional[int], iw_samples: Optional[int], latent_map: Optional[Path],
               linear_probe: bool, as_json: bool) -> None:
    """An autoencoder's or VAE's own numbers (zoo.tasks.autoencoding/variational `report`): recon error, test ELBO,
    IWAE NLL, latent map, linear-probe accuracy."""
    task = loaded.task
    data = task.load_split(split, limit)  # pixels in [0, 1]: no normalisation to carry over
    result = task.report(data, iw_samples=iw_samples, latent_map=latent_map, linear_probe=linear_probe)
    doc = {"model": loaded.model.zoo_name, "weights": loaded.source, "data": task.data_config.name, "split": split,
           "examples": len(data["images"]), **result}
    if as_json:
        print_json(doc)
        return
    shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
    console.print(f"{loaded.model.zoo_name} on {task.data_config.name} {split} ({len(data['images']):,} examples): {shown}",
                  markup=False, highlight=False)


class StageBar:
    """`evaluate`'s progress on stderr: one bar per stage (reference, sampling, metrics)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from zoo.cli.app import err_console

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err_console)
        self.current = None

    def __enter__(self) -> StageBar:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self.bar.stop()

    def stage(self, name: str, total: Optional[int]) -> None:
        self._finish()
        self.current = self.bar.add_task(name, total=total)

    def advance(self, done: int) -> None:
        self.bar.advance(self.current, done)

    def _finish(self) -> None:
        """Show the stage as complete (a cached reference has no count: it shows 1/1)."""
        if self.current is None:
            return
        task = next(t for t in self.bar.tasks if t.id == self.current)
        done = int(task.total if task.total is not None else task.completed) or 1
        self.bar.update(self.current, total=done, completed=done)


def print_scores(doc: dict, metrics: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("metric", "value", "detail", "seconds"):
        table.add_column(column, justify="left" if column in ("metric", "detail") else "right")
    seconds = doc["seconds"]
    for m in metrics:
        value = doc[m]
        job = "precision_recall" if m in ("precision", "recall") else m
        if isinstance(value, dict):
            main, *rest = value.items()
            detail = ", ".join(f"{k} {v:.4g}" for k, v in rest)
            table.add_row(m, f"{main[1]:.4g}", detail, f"{seconds[job]:.2f}")
        else:
            table.add_row(m, f"{value:.4g}", "", f"{seconds[job]:.2f}")
    console.print(table)


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
