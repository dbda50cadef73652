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
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold",
                         no_wrap=col in ("tag", "size", "data"))
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


@weights_app.command("package")
def package_cmd(
    bundle: Annotated[str, typer.Argument(help="The bundle to ship (e.g. runs/<run>/bundle).")],
    tag: Annotated[str, typer.Option("--tag", help="Weights tag, e.g. mnist for lenet5.mnist.")],
    out: Annotated[Path, typer.Option("--out", help="Bundle directory to write (inside the plugin package to ship it).")],
    eval_json: Annotated[Optional[Path], typer.Option("--eval", help="Output of `zoo eval --json` on these weights: its accuracy becomes a metric.")] = None,
    license: Annotated[str, typer.Option("--license", help="License of the weights.")] = "",
    notes: Annotated[Optional[str], typer.Option("--notes", help="Card notes replacing the run's (e.g. the recipe).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
) -> None:
    """Write a tagged copy of a bundle with measured metrics, and print its `pretrained:` manifest entry."""
    from zoo.weights.bundle import package
    from zoo.weights.safefile import sha256_file

    metrics, note = _eval_metrics(eval_json, bundle) if eval_json else ({}, "")
    path = package(bundle, out, tag=tag, metrics=metrics, license=license, notes=notes, measured_by=note,
                   overwrite=overwrite)
    weights = path / "model.safetensors"
    from zoo.weights.card import read_bundle_config

    doc = read_bundle_config(path)
    entry = {"tag": tag, "path": _manifest_relative(path, doc.qualified_name), "sha256": sha256_file(weights),
             "size": weights.stat().st_size, "data": doc.data, "metrics": doc.metrics}
    console.print(f"wrote {path}; its manifest entry (under the model's `pretrained:`):", markup=False, highlight=False)
    import yaml

    typer.echo(yaml.safe_dump([entry], sort_keys=False).rstrip())


def _eval_metrics(eval_json: Path, bundle: str) -> tuple[dict[str, float], str]:
    """`{split}_accuracy` from a `zoo eval --json` file, which must be about this very bundle."""
    import json

    from zoo.weights import WeightsError

    try:
        doc = json.loads(eval_json.read_text())
        split, accuracy, source = doc["split"], float(doc["accuracy"]), doc["weights"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{eval_json}: not the output of `zoo eval --json` ({type(err).__name__}: {err})") from None
    if Path(source).resolve() != Path(bundle).resolve():
        raise WeightsError(f"{eval_json} evaluated {source}, not {bundle}")
    model = str(doc.get("model", "")).split(":")[-1]
    return {f"{split}_accuracy": accuracy}, (f"{split}_accuracy measured by `zoo eval {model} --weights {source} --split {split}` "
                                              f"on {doc.get('examples', '?')} examples of {doc.get('data', '?')}.")


def _manifest_relative(path: Path, qualified: str) -> str:
    from zoo.api import resolve

    base = resolve(qualified)[0].manifest_dir
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())
