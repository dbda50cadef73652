from zoo.testing import ModelContract


class TestDiffusionModels(ModelContract):
    plugin = "diffusion"
