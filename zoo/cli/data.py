"""`zoo data list` and `zoo data fetch NAME`: what is cached under $ZOO_HOME, and getting more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
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
    show_all: Annotated[bool, typer.Option("--all", help="Also the known datasets not cached yet, with their source.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Datasets present in the cache: name, complete splits, size on disk, path (--all: every known one)."""
    from zoo.data.cache import cacheable_datasets, cached_datasets, default_root

    cached = {r.name: r for r in cached_datasets(root)}
    known = [d for d in cacheable_datasets() if d.name in cached or show_all]
    rows = [{"name": d.name, "splits": cached[d.name].splits if d.name in cached else [],
             "size_bytes": cached[d.name].size_bytes if d.name in cached else 0, "path": str(d.path(root)),
             "summary": d.summary, "source": d.source} for d in known]
    if as_json:
        print_json(rows)
        return
    if not rows:
        where = root or default_root()
        console.print(f"no datasets cached in {where}; fetch one with `zoo data fetch mnist`", highlight=False, markup=False)
        return
    from rich.table import Table

    last = "source" if show_all else "path"  # --all: where a dataset comes from; else where it is
    table = Table(box=None, header_style="bold")
    for col in ("name", "splits", "size", last):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["splits"]) or "-", _size(r["size_bytes"]) if r["splits"] else "-", r[last])
    console.print(table, highlight=False)


@data_app.command("fetch")
def fetch_cmd(
    name: Annotated[str, typer.Argument(help="A registered dataset's name (`zoo list --datasets`); a derived one is built from its source.", autocompletion=complete.datasets)],
    root: RootOption = None,
) -> None:
    """Fetch a dataset into the cache (verified by checksum), with a progress bar."""
    from zoo.data.cache import cached_datasets
    from zoo.data.catalog import dataset_for
    from zoo.data.fetch import fetch

    dataset = dataset_for(name)
    with _progress_bar() as progress:
        path = fetch(name, root, progress=progress)
    row = next(r for r in cached_datasets(root) if r.name == dataset.name)
    console.print(f"{dataset.name}: {', '.join(row.splits)} in {path} ({_size(row.size_bytes)})", highlight=False, markup=False)


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
