"""`zoo weights list | verify | convert`: pretrained tags, integrity checks, checkpoint conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, err_console, print_json

weights_app = typer.Typer(help="Pretrained weights: list tags, verify bundles, convert checkpoints.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every pretrained tag of every plugin: size, data, metrics, sha256 (reads manifests only)."""
    from zoo.weights.tags import all_tags

    rows = [{"tag": r.name, "model": r.spec.qualified_name, "location": r.location, "size": r.tag.size,
             "data": r.tag.data, "metrics": r.tag.metrics, "sha256": r.tag.sha256} for r in all_tags()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no pretrained weights are declared")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("tag", "size", "data", "metrics", "sha256"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold")
    for r in rows:
        size = f"{r['size'] / 1024:,.0f} KiB" if r["size"] is not None else "?"
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in r["metrics"].items()) or "—"
        table.add_row(r["tag"], size, r["data"] or "—", metrics, r["sha256"])
    console.print(table, highlight=False)


@weights_app.command("verify")
def verify_cmd(
    sources: Annotated[Optional[list[str]], typer.Argument(help="Tags, bundle directories or .safetensors files (default: every tag).", show_default=False)] = None,
) -> None:
    """Check sha256 and size against the manifest, file structure, config, names, shapes and finite values."""
    from zoo.errors import ZooError
    from zoo.weights import WeightsError
    from zoo.weights.bundle import check
    from zoo.weights.tags import all_tags

    names = list(sources or [r.name for r in all_tags()])
    if not names:
        console.print("no pretrained weights are declared")
        return
    failed = []
    for name in names:
        try:
            check(name)
        except ZooError as err:
            failed.append(name)
            err_console.print(f"FAILED {name}: {err}", markup=False, highlight=False)
        else:
            console.print(f"ok     {name}", markup=False, highlight=False)
    if failed:
        raise WeightsError(f"{len(failed)} of {len(names)} failed verification: {', '.join(failed)}")


@weights_app.command("convert")
def convert_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A torch checkpoint (.pth/.pt/.bin), opened with weights_only=True.")],
    model: Annotated[str, typer.Option("--model", help="Model the checkpoint belongs to.")],
    out: Annotated[Path, typer.Option("--out", help="Bundle directory to write.")],
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field: key=value (repeatable).")] = None,
    adapt_head: Annotated[bool, typer.Option("--adapt-head", help="Re-initialise a classifier head whose num_classes differs.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
) -> None:
    """Convert a foreign PyTorch checkpoint into a zoo bundle (loaded strictly; no pickled code is run)."""
    from zoo.config import apply_overrides
    from zoo.weights.foreign import convert_checkpoint

    path = convert_checkpoint(checkpoint, model, out, adapt_head=adapt_head, overwrite=overwrite,
                              **apply_overrides({}, sets or []))
    console.print(f"wrote {path}", markup=False, highlight=False)
