"""Kernel two-sample statistics: KID (Bińkowski et al. 2018) and kernel MMD with a Gaussian kernel.

Both are unbiased estimates of MMD² (Gretton et al. 2012): each kernel sum leaves out k(x, x),
so two samples of one distribution score 0 on average and may score slightly below it.
KID is torchmetrics' `KernelInceptionDistance` (cubic polynomial kernel (x·y/d + 1)³, mean and
std over random subsets); the Gaussian MMD is computed here over the full sets, in row chunks
so 10k x 10k kernels never sit in memory at once.
"""

from __future__ import annotations

import warnings

import torch

from zoo.metrics.features import Embedding, FeatureExtractor, MeanStd, features_of
from zoo.metrics.frechet import FeatureRows

CHUNK = 1024  # rows per block: a 1024 x 10k float64 block is 80 MB
BANDWIDTH_SAMPLE = 1000  # points the median heuristic looks at


def kid(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *, extractor: FeatureExtractor | None = None,
        subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> MeanStd:
    """Unbiased MMD² with the cubic polynomial kernel, mean and std over `subsets` random subsets.

    A subset holds `subset_size` rows of each side (fewer when a side is smaller); `seed` fixes
    which, so a result can be reproduced exactly.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    x, y = features_of(real, extractor), features_of(fake, extractor)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    with warnings.catch_warnings():  # "will save all extracted features": ours are rows already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=FeatureRows(x.shape[1]), subsets=subsets, subset_size=size)
    metric.update(x, real=True)
    metric.update(y, real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws its subsets from the global generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return MeanStd(float(mean), float(std))


def mmd(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *, extractor: FeatureExtractor | None = None,
        bandwidth: float | None = None, seed: int = 0) -> float:
    """Unbiased MMD² with the Gaussian kernel exp(-|a - b|² / (2 σ²)).

    σ = `bandwidth`, or the median distance between points of the pooled sample (the median
    heuristic, on `BANDWIDTH_SAMPLE` points drawn with `seed`).
    """
    x, y = features_of(real, extractor), features_of(fake, extractor)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("MMD needs at least 2 samples on each side")
    sigma = bandwidth if bandwidth is not None else median_distance(torch.cat([x, y]), seed)
    gamma = 1.0 / (2.0 * sigma * sigma)
    k_xx = gaussian_sum(x, x, gamma) - n  # k(a, a) = 1 for each of the n diagonal terms
    k_yy = gaussian_sum(y, y, gamma) - m
    k_xy = gaussian_sum(x, y, gamma)
    return float(k_xx / (n * (n - 1)) + k_yy / (m * (m - 1)) - 2 * k_xy / (n * m))


def gaussian_sum(a: torch.Tensor, b: torch.Tensor, gamma: float) -> float:
    """Σ_ij exp(-γ |a_i - b_j|²) over all pairs, CHUNK rows of `a` at a time."""
    total = 0.0
    for i in range(0, len(a), CHUNK):
        total += float(torch.exp(-gamma * squared_distances(a[i:i + CHUNK], b)).sum())
    return total


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """len(a) x len(b) squared Euclidean distances, by one matrix product (|a|² + |b|² - 2 a·b)."""
    d2 = torch.addmm(b.square().sum(1), a, b.T, alpha=-2.0)  # |b|² - 2 a·b; one pass fewer than a sum of three
    return d2.add_(a.square().sum(1, keepdim=True)).clamp_min_(0.0)


def median_distance(points: torch.Tensor, seed: int) -> float:
    """Median Euclidean distance between distinct points of a random subset of `points`."""
    pick = torch.randperm(len(points), generator=torch.Generator().manual_seed(seed))[:BANDWIDTH_SAMPLE]
    sample = points[pick]
    d = squared_distances(sample, sample).sqrt()
    upper = torch.triu_indices(len(sample), len(sample), offset=1)
    median = float(d[upper[0], upper[1]].median())
    return median if median > 0 else 1.0  # all points equal: every σ gives the same MMD², take 1
