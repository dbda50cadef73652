"""What every metric runs on: feature rows and class probabilities from a feature extractor.

Images are quantised to uint8 before they reach an extractor, as real images are stored:
generated and real images then go through the very same preprocessing (the convention of
torch-fidelity and clean-fid). Feature rows are float64 from here on, so the metrics' sums
over 10k x 10k pairs do not lose digits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

Progress = Callable[[int], None]  # called with the number of images just done


class MeanStd(NamedTuple):
    """A metric averaged over splits or subsets, with its standard deviation across them."""

    mean: float
    std: float


@dataclass
class Embedding:
    """One image set seen by an extractor: `features` N x d, `probs` N x K (None: no classes), float64."""

    features: torch.Tensor
    probs: torch.Tensor | None

    def __len__(self) -> int:
        return self.features.shape[0]

    def take(self, index: torch.Tensor) -> Embedding:
        return Embedding(self.features[index], None if self.probs is None else self.probs[index])


class FeatureExtractor(nn.Module):
    """Base of every extractor a plugin provides: uint8 images in, feature rows (and logits) out.

    Subclasses set `num_features` and `num_classes` (None when there are no class
    probabilities) and implement `outputs`. `forward` returns float64 features, so an extractor
    is also a torchmetrics `feature=` module. `name`, `weights_sha256` and `own_weights` (False
    when the user gave the weights) are set by `load_extractor`; they label every result and key
    the reference-feature cache.
    """

    num_features: int
    num_classes: int | None = None
    name: str = ""
    weights_sha256: str = ""
    own_weights: bool = True

    def outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """B x C x H x W uint8 -> (B x num_features features, B x num_classes logits or None)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs(to_uint8(images))[0].double()

    @torch.inference_mode()
    def embed(self, images: torch.Tensor, batch_size: int = 500, progress: Progress | None = None) -> Embedding:
        """Features and probabilities of all `images`, `batch_size` at a time."""
        features, probs = [], []
        for i in range(0, len(images), batch_size):
            batch = to_uint8(images[i:i + batch_size])
            f, logits = self.outputs(batch)
            features.append(f.double().cpu())
            if logits is not None:
                probs.append(logits.double().softmax(1).cpu())
            if progress is not None:
                progress(len(batch))
        return Embedding(_cat(features, self.num_features), _cat(probs, self.num_classes) if probs else None)


def _cat(parts: list[torch.Tensor], width: int | None) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.empty(0, width or 0, dtype=torch.float64)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images unchanged; float images in [0, 1] (the data's value range) rounded to 0..255."""
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [0, 1], got {images.dtype}")
    return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def embedding_of(x: torch.Tensor | Embedding, extractor: FeatureExtractor | None, need_probs: bool = False) -> Embedding:
    """An Embedding from images (N x C x H x W, run through `extractor`), feature rows (N x d) or an Embedding.

    A 2-D tensor is taken as feature rows, or as probabilities when `need_probs`.
    """
    if isinstance(x, Embedding):
        return x
    if x.dim() == 2:
        rows = x.detach().double().cpu()
        return Embedding(rows, rows) if need_probs else Embedding(rows, None)
    if x.dim() != 4:
        raise ValueError(f"expected N x C x H x W images or N x d feature rows, got shape {tuple(x.shape)}")
    return (extractor if extractor is not None else default_extractor()).embed(x)


def features_of(x: torch.Tensor | Embedding, extractor: FeatureExtractor | None = None) -> torch.Tensor:
    """N x d float64 feature rows of images, feature rows or an Embedding."""
    return embedding_of(x, extractor).features


def probs_of(x: torch.Tensor | Embedding, extractor: FeatureExtractor | None = None) -> torch.Tensor:
    """N x K float64 class probabilities of images, probability rows or an Embedding."""
    from zoo.metrics.extractors import ExtractorError

    probs = embedding_of(x, extractor, need_probs=True).probs
    if probs is None:
        raise ExtractorError("this extractor gives no class probabilities; IS and the Mode Score need them "
                             "(use --extractor lenet5_mnist or one with num_classes)")
    return probs


@functools.lru_cache(maxsize=1)
def default_extractor() -> FeatureExtractor:
    """The default extractor (`lenet5_mnist`), loaded once per process."""
    from zoo.metrics.extractors import load_extractor

    return load_extractor()
