from __future__ import annotations

from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("sample", context_settings=_EXTRA, add_help_option=False)
def sample_cmd(
    ctx: typer.Context,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset to draw examples from, for tasks that need one.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:N.")] = "auto",
    show_help: Annotated[bool, typer.Option("--help", "-h", help="Show this message; with a model or --weights, that model's task's options.")] = False,
) -> None:
    """[NAME] [OPTIONS]: write a picture of what the model does (a generator: a grid of samples; a classifier: test images titled
    with its guesses). The other options are the model's task's: `zoo sample NAME --help` lists them
    (--n, --seed and --out in every task)."""
    from zoo.cli.options import parse_options
    from zoo.engine.inference import load_trained
    from zoo.workflow import describe_owner, sample_picture

    name, rest = split_name(list(ctx.args))
    if show_help:
        print_task_help(ctx, name, weights, "SampleOptions", "sample")
        return
    loaded = load_trained(weights, name, data, device)
    options = parse_options(loaded.task.SampleOptions, rest, describe_owner(loaded))  # before any data loads
    path = sample_picture(loaded, options)
    console.print(f"wrote {path}", markup=False, highlight=False)


def split_name(args: list[str]) -> tuple[Optional[str], list[str]]:
    """The model name or tag, when the command line starts with one, and the task's options after it.

    The name is not a declared argument: the task's options are unknown until the model is, and a
    declared argument would swallow the first of them."""
    if args and not args[0].startswith("-"):
        return args[0], args[1:]
    return None, args


def print_task_help(ctx: typer.Context, name: Optional[str], weights: Optional[str], schema: str, command: str) -> None:
    """The command's own help; with a model or weights named, the options of that model's task after it."""
    from zoo.cli.options import options_help
    from zoo.names import resolve
    from zoo.tasks import task_class

    typer.echo(ctx.get_help())
    if name is None and weights is None:
        typer.echo(f"\nName a model or --weights to see its task's options: zoo {command} dcgan.mnist --help")
        return
    if name is not None:
        spec = resolve(name)[0]
    else:
        from zoo.engine.inference import load_trained

        spec = resolve(load_trained(weights).model.zoo_name)[0]
    task = task_class(spec.entry.task)
    typer.echo("\n" + options_help(getattr(task, schema), f"Options of {spec.qualified_name}'s task "
                                                          f"'{spec.entry.task}' ({task.__name__}):"))
