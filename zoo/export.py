"""Export a loaded model to safetensors, ONNX or TorchScript, checked before it is kept.

ONNX and TorchScript write the part of the model its task's surface says makes the output
(`zoo.surfaces`): for a generative surface (autoencoder, VAE, GAN, ...) the module
`model.export_module()` returns (a GAN's generator: noise and condition -> image; a VAE's
decoder: code -> image), on the example inputs `model.export_inputs(batch_size)` -> {input
name: tensor}; a model of such a task that lacks the hooks is refused, naming them, rather
than exporting its `forward`. A surface with no export hooks (a classifier) exports the model
itself on one random `image` batch of the config's `input_shape()`; a classifier that defines
the hooks is exported through them. The exported files are run on fresh random inputs at two
batch sizes (the batch dimension is dynamic) and must agree with PyTorch within `ATOL`; a
file that does not is never written to its destination.

`device` traces on that device (`--device cuda`): the module and its example inputs move
there and the check compares the file with PyTorch on that device, in strict fp32 (TF32 off).
ONNX is still run by onnxruntime on the CPU, so a CUDA trace is checked against CPU kernels; a
TorchScript file traced on a GPU keeps the device in its graph and is loaded there.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.engine.precision import exact_fp32
from zoo.errors import ZooError
from zoo.formats import FORMATS


class ExportError(ZooError):
    """An export that cannot be done or does not reproduce the model: one line, exit 2."""


ATOL = 1e-4
ONNX_OPSET = 17
_CHECK_BATCHES = (1, 3)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float | None  # largest |exported - PyTorch| over the check inputs (None: weights only)


HOOKS = ("export_module", "export_inputs")


def surface_of(model: nn.Module) -> type | None:
    """The surface class of the model's task (`zoo.surfaces`), None for a task that declares none."""
    from zoo.names import resolve
    from zoo.tasks import task_class

    return getattr(task_class(resolve(model.zoo_name)[0].entry.task), "surface", None)


def exports_forward(model: nn.Module) -> bool:
    """Whether export writes the model itself (no hooks), or refuses the model for lacking them."""
    if all(callable(getattr(model, hook, None)) for hook in HOOKS):
        return False
    surface = surface_of(model)
    hooks = tuple(getattr(surface, "export_hooks", HOOKS))
    missing = [h for h in hooks if not callable(getattr(model, h, None))]
    if missing:
        where = f"{surface.__module__}.{surface.__qualname__}" if surface is not None else "its task's surface"
        raise ExportError(f"{model.zoo_name} cannot be exported: it has no {', '.join(f'{h}()' for h in missing)} "
                          f"(the hooks {where} names for the part of the model that makes its output)")
    return True


def export_module(model: nn.Module) -> nn.Module:
    """What ONNX and TorchScript write: `model.export_module()`, or the model itself (see the module doc)."""
    return model if exports_forward(model) else model.export_module()


def export_inputs(model: nn.Module, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """{input name: tensor} for `export_module(model)`: `model.export_inputs(batch_size)`, or a random `image` batch."""
    if not exports_forward(model):
        return dict(model.export_inputs(batch_size))
    shape = model.zoo_config.input_shape()
    return {"image": torch.randn(batch_size, *shape, generator=generator)}


def export(model: nn.Module, fmt: str, out: str | Path, *, overwrite: bool = False,
           device: str | torch.device | None = None) -> ExportResult:
    """Write `model` (eval mode) to `out` in `fmt`; ONNX and TorchScript are traced on `device` (default: where
    the model is) and verified first."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose: {', '.join(FORMATS)})")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists; pass --overwrite to replace it")
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    if device is not None and fmt != "safetensors":  # a weights file is the same from any device
        model.to(device)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with exact_fp32(_device_of(model)):
            diff = _WRITERS[fmt](model, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for directory in created:  # innermost first: leave no trace of a failed export
            directory.rmdir()
        raise
    return ExportResult(out, fmt, diff)


def _write_safetensors(model: nn.Module, path: Path) -> None:
    """The whole model's tensors, with the model name and config in the metadata (one self-describing file)."""
    from zoo.weights.bundle import save_weights_file

    save_weights_file(model, path)


def _device_of(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _example(model: nn.Module, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """`export_inputs` (drawn on the CPU, so a seed gives the same inputs everywhere) on the model's device."""
    device = _device_of(model)
    return {k: v.to(device) for k, v in export_inputs(model, batch_size, generator).items()}


def _write_onnx(model: nn.Module, path: Path) -> float:
    module = export_module(model).eval()
    inputs = _example(model, 2, torch.Generator().manual_seed(0))
    names = list(inputs)
    with torch.no_grad():
        outputs = _as_tuple(module(*inputs.values()))
    output_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    axes = {n: {0: "batch"} for n in names + output_names}
    with warnings.catch_warnings():
        # The torch.export-based exporter needs onnxscript, which the zoo does not depend on; the
        # TorchScript-based one (deprecated, still shipped) needs only onnx and handles a dynamic batch.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, tuple(inputs.values()), str(path), dynamo=False, input_names=names,
                          output_names=output_names, dynamic_axes=axes, opset_version=ONNX_OPSET)
    return _check(model, module, _onnx_runner(path, names), "ONNX")


def _onnx_runner(path: Path, names: list[str]) -> Any:
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {n: t.cpu().numpy() for n, t in zip(names, tensors)}
        return tuple(torch.from_numpy(o) for o in session.run(None, feeds))

    return run


def _write_torchscript(model: nn.Module, path: Path) -> float:
    module = export_module(model).eval()
    inputs = _example(model, 2, torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        # torch.jit is deprecated in favour of torch.export, but TorchScript is the format asked for
        # (loadable from C++ and by torch.jit.load without the zoo).
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, tuple(inputs.values()))
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path))
    return _check(model, module, lambda *t: _as_tuple(loaded(*t)), "TorchScript")


def _check(model: nn.Module, module: nn.Module, run: Any, what: str) -> float:
    """Largest deviation from PyTorch over fresh inputs at several batch sizes; above ATOL is an error."""
    worst = 0.0
    gen = torch.Generator().manual_seed(1)
    for batch in _CHECK_BATCHES:
        inputs = tuple(_example(model, batch, gen).values())
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            want = tuple(t.cpu() for t in _as_tuple(module(*inputs)))
            got = tuple(t.cpu() for t in run(*inputs))
        if len(want) != len(got) or any(w.shape != g.shape for w, g in zip(want, got)):
            raise ExportError(f"{what} export gives outputs of other shapes at batch size {batch}")
        worst = max(worst, *(float((w - g).abs().max()) for w, g in zip(want, got)))
    if not worst <= ATOL:
        raise ExportError(f"{what} export differs from PyTorch by {worst:.3g} (> {ATOL}); not written")
    return worst


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


_WRITERS = {"safetensors": _write_safetensors, "onnx": _write_onnx, "torchscript": _write_torchscript}
