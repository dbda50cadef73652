"""The image-to-image family passes the contract every plugin runs (translation surface included)."""

from zoo.testing import ModelContract


class TestTranslationModels(ModelContract):
    plugin = "translation"
