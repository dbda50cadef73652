"""Wasserstein-1 (earth mover's) distance between feature sets, exact, by POT's network simplex.

The exact problem on n points costs about n³, so it is solved on random equal-size subsets
(uniform weights, Euclidean ground cost) and reported as mean and std over them.
"""

from __future__ import annotations

import torch

from zoo.metrics.features import Embedding, FeatureExtractor, MeanStd, features_of

MAX_ITERATIONS = 10_000_000  # POT's default 100k stops short of the optimum on 1000 x 1000 problems


def wasserstein(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *,
                extractor: FeatureExtractor | None = None, subsets: int = 10, subset_size: int = 1000,
                seed: int = 0) -> MeanStd:
    """Exact W1 by `ot.emd2` between `subsets` pairs of random subsets of `subset_size` rows."""
    import numpy as np
    import ot

    x = features_of(real, extractor).numpy()
    y = features_of(fake, extractor).numpy()
    size = min(subset_size, len(x), len(y))
    if size < 1:
        raise ValueError("the Wasserstein distance needs at least one sample on each side")
    rng = np.random.default_rng(seed)
    costs = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), size, replace=False)]
        b = y[rng.choice(len(y), size, replace=False)]
        ground = ot.dist(a, b, metric="euclidean")  # size x size
        costs.append(ot.emd2([], [], ground, numItermax=MAX_ITERATIONS))  # [] = uniform weights
    values = np.asarray(costs, dtype=np.float64)
    return MeanStd(float(values.mean()), float(values.std()))
