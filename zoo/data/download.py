"""Fetching one file over HTTP into the cache: temp file, checksum, rename (torch-free).

A download either ends as the complete, verified file at its destination or leaves nothing
behind: bytes go to a hidden temp file beside the destination, are hashed as they arrive,
and the file is renamed into place only after the length and checksum match.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path

from zoo.data.base import DataError, ProgressFn

CHUNK = 1 << 20
USER_AGENT = "zoo/0.1 (dataset fetch)"


def publish(tmp: Path | str, dest: Path) -> None:
    """Rename a finished temp file onto `dest`, with the permissions a plain open() would give
    (mkstemp makes files owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` by temp file in the same directory, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def replace_dir(source: Path, target: Path) -> None:
    """Put the finished directory `source` where `target` is (same disk), replacing what was there."""
    import shutil

    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 10.0,
    progress: ProgressFn | None = None,
) -> Path:
    """Download `url` to `dest`, verified by `sha256` or `md5`; raise DataError naming the problem."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    algorithm, expected = ("sha256", sha256) if sha256 else ("md5", md5)
    if expected is None:
        raise ValueError("download() needs a checksum: pass sha256= or md5=")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, received, total = _stream(url, out, algorithm, timeout, progress, dest.name)
        if total is not None and received != total:
            raise DataError(f"download of {url} was truncated: got {received} of {total} bytes")
        if digest != expected:
            raise DataError(f"checksum mismatch for {url}: {algorithm} {digest}, expected {expected}")
        publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _stream(url, out, algorithm, timeout, progress, label) -> tuple[str, int, int | None]:
    """Copy the body of `url` into `out`; return (hex digest, bytes received, Content-Length)."""
    h = hashlib.new(algorithm)
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with _network_errors(url, timeout):
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while True:
                try:
                    block = response.read(CHUNK)
                except HTTPException:  # IncompleteRead: the server closed early
                    break
                if not block:
                    break
                out.write(block)
                h.update(block)
                received += len(block)
                if progress:
                    progress(label, received, total)
    return h.hexdigest(), received, total


@contextmanager
def _network_errors(url: str, timeout: float, broken: str = "connection to {url} failed") -> Iterator[None]:
    """Turn urllib's and the socket's exceptions into one-line DataErrors naming `url`."""
    try:
        yield
    except urllib.error.HTTPError as err:
        raise DataError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DataError(f"could not reach {url}: {_reason(err.reason)}") from None
    except (socket.timeout, TimeoutError):
        raise DataError(f"{url} did not answer within {timeout:g} s") from None
    except (ConnectionError, HTTPException, ValueError) as err:
        raise DataError(f"{broken.format(url=url)}: {err}") from None


def _reason(reason: object) -> str:
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    return getattr(reason, "strerror", None) or str(reason)


def fetch_json(url: str, *, timeout: float = 10.0, accept: str = "application/json") -> object:
    """GET a small JSON document (an index page); DataError on any failure."""
    import json

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept})
    with _network_errors(url, timeout, broken="bad answer from {url}"):
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
