"""Foreign checkpoints (.pth/.pt/.bin from torch.save) -> zoo bundles.

They are pickles, so they are opened only with `torch.load(weights_only=True)`: its
unpickler rebuilds tensors and plain containers and refuses every other global, so a
payload is never executed. Conversion rebuilds the zoo model, loads the tensors strictly and
writes a bundle; from then on the safetensors file is what gets loaded.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from zoo.weights import WeightsError

# Where common training scripts put the state dict inside a checkpoint.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "ema")
# Prefixes added by DistributedDataParallel and torch.compile.
_WRAPPER_PREFIX = re.compile(r"^(module\.|_orig_mod\.)+")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside a torch checkpoint, read without executing any pickled code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the refusal below says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise WeightsError(f"{path}: refused: the pickle asks to run code or build objects that are not "
                           f"tensors ({_refused_global(err)}); nothing was executed") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise WeightsError(f"{path}: not a readable torch checkpoint: {str(err).splitlines()[0][:200]}") from None
    return _state_dict(path, obj)


def _refused_global(err: Exception) -> str:
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    if found:
        return f"global {found.group(1)}"
    found = re.search(r"WeightsUnpickler error:\s*([^\n.]+)", str(err))
    return found.group(1).strip() if found else "unsupported pickle content"


def _state_dict(path: Path, obj: Any) -> dict[str, torch.Tensor]:
    for _ in range(3):  # e.g. {"model": {"state_dict": {...}}}
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {_WRAPPER_PREFIX.sub("", str(k)): v for k, v in obj.items()}
        nested = [obj[k] for k in _NESTED_KEYS if isinstance(obj, dict) and isinstance(obj.get(k), dict)]
        if not nested:
            break
        obj = nested[0]
    raise WeightsError(f"{path}: holds no state dict (a mapping of names to tensors) at the top level or under "
                       f"{', '.join(_NESTED_KEYS)}")


def convert_checkpoint(path: str | Path, model_name: str, out: str | Path, *, adapt_head: bool = False,
                       overwrite: bool = False, **overrides: Any) -> Path:
    """Build `model_name` (with config `overrides`), load the checkpoint strictly, write a bundle to `out`."""
    import zoo
    from zoo.weights.fit import load_into

    tensors = read_checkpoint(path)
    model = zoo.create_model(model_name, **overrides)
    load_into(model, tensors, source=str(path), adapt_head=adapt_head)
    return zoo.save_pretrained(model, out, overwrite=overwrite, notes=f"Converted from {Path(path).name}.")
