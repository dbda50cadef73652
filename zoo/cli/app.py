"""The typer app object and the consoles every command prints through."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="zoo",
    help="A plugin-based model zoo for PyTorch.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    """A plugin-based model zoo for PyTorch: list, inspect, build, train, sample, evaluate and export models."""


def warn(message: str) -> None:
    err_console.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def note(message: str) -> None:
    err_console.print(message, style="dim", markup=False, highlight=False)


def print_json(data: object) -> None:
    """Plain JSON on stdout (no wrapping, no colour), for scripts."""
    import json

    typer.echo(json.dumps(data, indent=2, default=str))


def warn_registry_problems() -> None:
    """Broken plugins and name collisions, each said once per process."""
    from zoo.registry import get_registry

    reg = get_registry()
    for message in reg.warnings:
        warn(message)
    reg.warnings.clear()
