"""`zoo export [NAME] --weights BUNDLE --format safetensors|onnx|torchscript`, or a tag alone (`zoo export vae.mnist`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note


@app.command("export")
def export_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Pretrained tag (lenet5.mnist), or the model --weights belong to (optional with --weights).", autocompletion=complete.model_names)] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, .safetensors file, tag (lenet5.mnist) or hf:// URL.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="safetensors, onnx or torchscript.", autocompletion=complete.formats)] = "onnx",
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file (default: the model's name + the format's extension).")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config field: key=value (repeatable).")] = None,
    adapt_head: Annotated[bool, typer.Option("--adapt-head", help="Re-initialise a classifier head whose num_classes differs.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    device: Annotated[str, typer.Option("--device", help="Trace on this device: auto (cuda if available), cpu, cuda, cuda:N. "
                                        "ONNX is checked by onnxruntime on the CPU either way.")] = "cpu",
) -> None:
    """Export a model with its weights: the part its task says makes the output (a classifier; a generator's or
    decoder's image maker). ONNX and TorchScript are checked against PyTorch (1e-4, dynamic batch)."""
    from zoo.config import apply_overrides
    from zoo.export import ExportError
    from zoo.formats import FORMATS
    from zoo.weights.tags import pick_weights

    from zoo.engine.distributed import Dist, pick_device

    weights, expect = pick_weights(name, weights)
    target_device = pick_device(device, Dist(), "--device")  # default cpu: a file traced there loads anywhere
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    if out is None and name is not None:
        out = _default_target(name, fmt)
    if out is not None and out.exists() and not overwrite:
        raise ExportError(f"{out} already exists; pass --overwrite to replace it")

    from zoo.engine.inference import weights_source
    from zoo.export import export
    from zoo.weights.bundle import check

    model = check(weights_source(weights)[0], expect=expect, adapt_head=adapt_head, **apply_overrides({}, sets or []))
    if model is None:
        raise ExportError(f"{weights}: carries no zoo model name and config; export a bundle instead")
    target = out or _default_target(model.zoo_name.split(":")[-1], fmt)
    result = export(model, fmt, target, overwrite=overwrite, device=target_device)
    if result.max_abs_diff is not None:
        note(f"checked against PyTorch at batch sizes 1 and 3: max |difference| {result.max_abs_diff:.2g}")
    console.print(f"wrote {result.path} ({result.path.stat().st_size:,} bytes, {fmt})", markup=False, highlight=False)


def _default_target(name: str, fmt: str) -> Path:
    """`vae.mnist` -> vae_mnist.onnx in the current directory."""
    from zoo.formats import FORMATS

    return Path(name.replace(":", "_").replace(".", "_") + FORMATS[fmt])
