"""The `zoo` command line: one typer app, one module per command.

User errors (`ZooError`, bad usage) print one line and exit 2; `--debug` shows tracebacks.
Command modules import nothing heavy at import time, so `zoo list` stays fast.
"""

from __future__ import annotations

import importlib
import sys

from zoo.cli.app import app, err_console

# Each module registers its commands on `app` when imported.
COMMAND_MODULES = (
    "zoo.cli.listing",
    "zoo.cli.info",
    "zoo.cli.plugins",
    "zoo.cli.build",
    "zoo.cli.data",
    "zoo.cli.weights",
    "zoo.cli.export",
    "zoo.cli.train",
    "zoo.cli.eval",
    "zoo.cli.predict",
    "zoo.cli.sample",
    "zoo.cli.convert",
)

__all__ = ["app", "main"]


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    import click

    from zoo.errors import ZooError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _register_commands()
    try:
        code = app(args=args, prog_name="zoo", standalone_mode=False)
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        code = 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        code = 130
    except ZooError as err:
        if debug:
            raise
        err_console.print(f"error: {err}", markup=False, highlight=False)
        code = err.exit_code
    except Exception as err:
        if debug:
            raise
        err_console.print(f"error: {type(err).__name__}: {err} (run with --debug for the traceback)", markup=False, highlight=False)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
