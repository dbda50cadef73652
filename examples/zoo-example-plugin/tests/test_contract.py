from zoo.testing import ModelContract


class TestExampleModels(ModelContract):
    plugin = "example"
