"""The `zoo` command line: one typer app, one module per command.

User errors (`ZooError`, bad usage) print one line and exit 2; `--debug` shows tracebacks.
Command modules import nothing heavy at import time, so `zoo list` stays fast.
"""

from __future__ import annotations

import importlib
import sys

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
    "zoo.cli.sweep",
    "zoo.cli.lr_find",
    "zoo.cli.eval",
    "zoo.cli.predict",
    "zoo.cli.sample",
    "zoo.cli.translate",
    "zoo.cli.convert",
    "zoo.cli.serve",
    "zoo.cli.inpaint",
)

__all__ = ["main", "run"]


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    from zoo.cli.fast import answer

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = answer(args)  # `zoo list` from the index, before typer, rich and pydantic are imported
        code = run(args) if code is None else code
        sys.stdout.flush()
    except BrokenPipeError:  # `zoo list | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        code = 0
    sys.exit(code)


def run(args: list[str]) -> int:
    """Run one command line; return its exit code (0 done, 2 user error, 1 bug, 130 interrupted)."""
    from zoo.cli import usage
    from zoo.cli.app import app, err_console
    from zoo.errors import ZooError

    debug = "--debug" in args
    try:
        _register_commands()
        code = app(args=args, prog_name="zoo", standalone_mode=False)
    except ZooError as err:
        if debug:
            raise
        _error(str(err))
        code = err.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        code = 130
    except MemoryError:
        if debug:
            raise
        _error("out of memory: the model, batch or image size asked for does not fit on this machine")
        code = 2
    except OSError as err:  # a path the user named: missing, a directory, unreadable, too long, disk full
        if debug:
            raise
        _error(_os_error(err))
        code = 2
    except Exception as err:
        if usage.is_no_args_help(err):
            typer_echo(err.format_message())
            return 0
        if usage.is_usage_error(err):
            if debug:
                raise
            _error(usage.describe(err, args, _root_command()))
            return 2
        if type(err).__name__ == "Abort":
            err_console.print("aborted")
            return 130
        if _is_allocation_failure(err):
            if debug:
                raise
            _error(f"out of memory: {str(err).splitlines()[0][:200]}; a smaller model, batch or image size may fit")
            return 2
        if usage.is_click_exception(err):
            _error(usage.describe(err, args, _root_command()))
            return 2
        if debug:
            raise
        _error(f"{type(err).__name__}: {err} (an internal error: please report it; run with --debug for the traceback)")
        code = 1
    return code if isinstance(code, int) else 0


def _is_allocation_failure(err: Exception) -> bool:
    """torch's allocators fail with RuntimeError (CPU) or torch.OutOfMemoryError (CUDA)."""
    return type(err).__name__ == "OutOfMemoryError" or (
        isinstance(err, RuntimeError) and ("can't allocate memory" in str(err) or "out of memory" in str(err)))


def _root_command() -> object:
    import typer

    from zoo.cli.app import app

    return typer.main.get_command(app)


def _error(text: str) -> None:
    from zoo.cli.app import err_console

    line = " ".join(text.split())
    err_console.print(f"error: {line if len(line) <= 2000 else line[:2000] + '…'}", markup=False, highlight=False)


def _os_error(err: OSError) -> str:
    what = err.strerror or type(err).__name__
    name = str(err.filename) if err.filename is not None else ""
    if len(name) > 120:
        name = name[:80] + "…" + name[-20:]
    return f"{name}: {what}" if name else f"{what}: {err}"


def typer_echo(text: str) -> None:
    import typer

    typer.echo(text)
