"""Every built-in model passes the same contract a third-party plugin author runs."""

import pytest

from zoo.testing import ModelContract


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch):
    """A task without `example_batch` trains its contract step on the start of its training split (MNIST, or
    the captions derived from it): the session's MNIST, fetched once, offline afterwards."""
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))


class TestBuiltinModels(ModelContract):
    plugin = "zoo"
