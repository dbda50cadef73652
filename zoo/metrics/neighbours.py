"""Nearest-neighbour statistics in feature space: the 1-NN two-sample test and improved precision/recall.

Distances are computed CHUNK rows at a time against the whole other set, so 20k x 20k
distance matrices never sit in memory at once.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from zoo.metrics.features import Embedding, FeatureExtractor, features_of
from zoo.metrics.kernel import CHUNK, squared_distances


class OneNN(NamedTuple):
    """Leave-one-out 1-NN accuracy: overall, and over the real and the generated points."""

    accuracy: float
    real: float
    fake: float


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def one_nn(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *,
           extractor: FeatureExtractor | None = None) -> OneNN:
    """1-NN two-sample test (Lopez-Paz & Oquab 2017): label each point by its nearest other point.

    50% is ideal (the sets cannot be told apart); near 100% the generator is far from the data;
    well below 50% it copies training points (each copy's nearest neighbour is its original).
    """
    x, y = features_of(real, extractor), features_of(fake, extractor)
    points = torch.cat([x, y])
    is_real = torch.cat([torch.ones(len(x), dtype=torch.bool), torch.zeros(len(y), dtype=torch.bool)])
    correct = torch.empty(len(points), dtype=torch.bool)
    for i in range(0, len(points), CHUNK):
        d2 = squared_distances(points[i:i + CHUNK], points)  # chunk x (n + m)
        rows = torch.arange(len(d2))
        d2[rows, rows + i] = float("inf")  # leave the point itself out
        correct[i:i + CHUNK] = is_real[d2.argmin(1)] == is_real[i:i + CHUNK]
    c = correct.double()
    return OneNN(float(c.mean()), float(c[:len(x)].mean()), float(c[len(x):].mean()))


def precision_recall(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *,
                     extractor: FeatureExtractor | None = None, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019), with k-NN balls as the manifolds.

    Each set's manifold is the union of balls around its points, of radius the distance to the
    point's k-th nearest neighbour in its own set. Precision: the share of generated points in
    the real manifold (quality); recall: the share of real points in the generated one (coverage).
    """
    x, y = features_of(real, extractor), features_of(fake, extractor)
    if min(len(x), len(y)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples on each side")
    precision = inside(y, x, kth_neighbour_distance(x, k)).double().mean()
    recall = inside(x, y, kth_neighbour_distance(y, k)).double().mean()
    return PrecisionRecall(float(precision), float(recall))


def kth_neighbour_distance(points: torch.Tensor, k: int) -> torch.Tensor:
    """N: each point's squared distance to its k-th nearest other point."""
    radii = torch.empty(len(points), dtype=points.dtype)
    for i in range(0, len(points), CHUNK):
        d2 = squared_distances(points[i:i + CHUNK], points)
        # k + 1 smallest, the first being the point itself; topk is ~5x faster than kthvalue here
        radii[i:i + CHUNK] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def inside(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """len(queries) booleans: whether each query lies in at least one ball (centre, squared radius)."""
    hit = torch.empty(len(queries), dtype=torch.bool)
    for i in range(0, len(queries), CHUNK):
        hit[i:i + CHUNK] = (squared_distances(queries[i:i + CHUNK], centres) <= radii).any(1)
    return hit
