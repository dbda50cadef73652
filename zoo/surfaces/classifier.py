"""What an image classifier provides for the `classification` task (public API; imports torch).

A classifier is an `nn.Module` built from its config (the constructor's one argument), with

- `forward(x) -> logits`: x is N x C x H x W, normalised floats of the config's `input_shape()`;
  the result is N x `num_classes` logits, or an object with a `logits` attribute when the model
  has more outputs (GoogLeNet's auxiliary heads);
- `zoo_config.num_classes` and `zoo_config.input_shape()`: `zoo.config.ImageClassifierConfig`
  brings both (with `in_chans`, `image_size`, `dropout`, `activation`, `init`);
- optionally `loss(output, target) -> 0-d tensor`: the model's own training loss (used instead of
  cross-entropy; the place for auxiliary losses).

`zoo export` writes `forward` itself: `image` -> logits. Subclassing `Classifier` is optional: it
documents the surface and adds nothing to the module::

    from torch import nn
    from zoo.config import ImageClassifierConfig
    from zoo.surfaces.classifier import Classifier

    class TinyCNN(Classifier):
        def __init__(self, config: ImageClassifierConfig) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(config.in_chans, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                     nn.Flatten(), nn.Linear(8, config.num_classes))

        def forward(self, x):
            return self.net(x)
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

__all__ = ["Classifier"]


class Classifier(nn.Module):
    """Base class (optional) of an image classifier; `required` is what the classification task reads."""

    required: ClassVar[tuple[str, ...]] = ("zoo_config.num_classes", "zoo_config.input_shape")
    export_hooks: ClassVar[tuple[str, ...]] = ()  # export writes forward itself
    export_output: ClassVar[str] = "logits"  # the exported graph maps `image` to N x num_classes logits
