"""`zoo data list` and `zoo data fetch NAME`: what is cached under $ZOO_HOME, and getting more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, print_json

data_app = typer.Typer(help="Datasets: list what is cached, fetch more.", no_args_is_help=True)
app.add_typer(data_app, name="data")

RootOption = Annotated[Optional[Path], typer.Option("--root", help="Data directory (default $ZOO_HOME/data).")]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


@data_app.command("list")
def list_cmd(
    root: RootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Datasets present in the cache: name, complete splits, size on disk, path."""
    from zoo.data.cache import cached_datasets, default_root

    rows = cached_datasets(root)
    if as_json:
        print_json([{"name": r.name, "splits": r.splits, "size_bytes": r.size_bytes, "path": str(r.path)} for r in rows])
        return
    where = root or default_root()
    if not rows:
        console.print(f"no datasets cached in {where}; fetch one with `zoo data fetch mnist`", highlight=False, markup=False)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("name", "splits", "size", "path"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for r in rows:
        table.add_row(r.name, ", ".join(r.splits), _size(r.size_bytes), str(r.path))
    console.print(table, highlight=False)


@data_app.command("fetch")
def fetch_cmd(
    name: Annotated[str, typer.Argument(help="Dataset name: mnist, fashion-mnist, cifar10.")],
    root: RootOption = None,
) -> None:
    """Fetch a dataset into the cache (verified by checksum), with a progress bar."""
    from zoo.data.cache import cached_datasets
    from zoo.data.catalog import dataset_info
    from zoo.data.fetch import fetch

    info = dataset_info(name)
    with _progress_bar() as progress:
        path = fetch(info.name, root, progress=progress)
    row = next(r for r in cached_datasets(root) if r.name == info.name)
    console.print(f"{info.name}: {', '.join(row.splits)} in {path} ({_size(row.size_bytes)})", highlight=False, markup=False)


class _progress_bar:
    """A rich progress bar with one row per file; callable as zoo.data's progress(label, done, total)."""

    def __enter__(self) -> _progress_bar:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        from zoo.cli.app import err_console

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             TimeRemainingColumn(), console=err_console, transient=False)
        self._tasks: dict[str, int] = {}
        self._bar.__enter__()
        return self

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if label not in self._tasks:
            self._tasks[label] = self._bar.add_task(label, total=total)
        self._bar.update(self._tasks[label], completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)
