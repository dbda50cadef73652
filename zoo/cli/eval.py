from __future__ import annotations

from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_json
from zoo.cli.sample import _EXTRA, print_task_help, split_name


@app.command("eval", context_settings=_EXTRA, add_help_option=False)
def eval_cmd(
    ctx: typer.Context,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, or tag.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset (default: the one the weights were trained on).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_help: Annotated[bool, typer.Option("--help", "-h", help="Show this message; with a model or --weights, that model's task's options.")] = False,
) -> None:
    """[NAME] [OPTIONS]: evaluate trained weights by their task: a classifier's accuracy and confusion matrix; an autoencoder's or
    VAE's reconstruction, ELBO and IWAE bound; a generator's FID, IS, Mode Score, KID, MMD, 1-NN, Wasserstein and
    precision/recall. The other options are the model's task's: `zoo eval NAME --help` lists them."""
    from zoo.cli.options import parse_options
    from zoo.engine.inference import load_trained
    from zoo.workflow import describe_owner

    name, rest = split_name(list(ctx.args))
    if show_help:
        print_task_help(ctx, name, weights, "EvalOptions", "eval")
        return
    loaded = load_trained(weights, name, data, device)
    options = parse_options(loaded.task.EvalOptions, rest, describe_owner(loaded))  # before any data loads
    with StageBar() as bar:
        doc = loaded.task.report(options, progress=bar)
    if as_json:
        print_json({"model": loaded.model.zoo_name, "weights": loaded.source, **doc})
        return
    for part in loaded.task.describe(doc):
        console.print(part, markup=False, highlight=False) if isinstance(part, str) else console.print(part)


class StageBar:
    """An evaluation's progress on stderr: one bar per stage (reference, sampling, metrics)."""

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
