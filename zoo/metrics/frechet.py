"""FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to two feature sets.

The mathematics is torchmetrics' (`FrechetInceptionDistance`, in float64) with the zoo's
extractor in place of its downloaded Inception network: the metric object is handed feature
rows through `FeatureRows`, a pass-through `feature=` module, because the reference side's
rows come from the zoo's cache rather than from images.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.metrics.features import Embedding, FeatureExtractor, features_of


class FeatureRows(nn.Module):
    """torchmetrics `feature=` module for inputs that already are N x d feature rows."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.double()


def fid(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *,
        extractor: FeatureExtractor | None = None) -> float:
    """FID between `real` and `fake` (images, N x d feature rows or Embeddings); 0 for one distribution."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    x, y = features_of(real, extractor), features_of(fake, extractor)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("FID needs at least 2 samples on each side")
    metric = FrechetInceptionDistance(feature=FeatureRows(x.shape[1]))
    metric.update(x, real=True)
    metric.update(y, real=False)
    return float(metric.compute())
