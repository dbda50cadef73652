"""Every built-in model passes the same contract a third-party plugin author runs."""

from zoo.testing import ModelContract


class TestBuiltinModels(ModelContract):
    plugin = "zoo"
