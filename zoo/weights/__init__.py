"""Weights: safetensors bundles, pretrained tags, strict loading, checkpoint conversion.

A bundle is a directory holding `config.json` (model, plugin, versions, the full validated
config, data, preprocessing), `model.safetensors` (every tensor of the model; the file's
metadata carries the model name and the config hash) and `README.md` (the model card).

This package's `__init__` imports nothing heavy: `zoo.weights.card`, `.safefile` and `.tags`
are torch-free (so `zoo weights list` stays fast); `.bundle`, `.fit` and `.foreign` import torch.
The public entry points are `zoo.save_pretrained`, `zoo.from_pretrained`, `zoo.load`.
"""

from zoo.errors import ZooError


class WeightsError(ZooError):
    """A weights file, bundle or tag that cannot be used as asked: one line, exit 2."""


class NonFiniteWeightsWarning(RuntimeWarning):
    """Loaded weights hold NaN or infinite values (the model will not compute anything useful)."""


CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
BUNDLE_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
