"""Scores of a classifier's beliefs about generated images: the Inception Score and the Mode Score.

Both read p(y|x), the extractor's class probabilities (LeNet-5's ten digits by default).
"""

from __future__ import annotations

import math

import torch

from zoo.metrics.features import Embedding, FeatureExtractor, MeanStd, probs_of

EPS = 1e-12  # keeps log 0 finite; a class nobody predicts contributes 0 · log(ε) = 0


def inception_score(fake: torch.Tensor | Embedding, *, extractor: FeatureExtractor | None = None,
                    splits: int = 10) -> MeanStd:
    """IS (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), mean and std over `splits` equal parts.

    Between 1 and the number of classes: high when each image is confidently one class and the
    classes are evenly used. It never looks at real data, so it cannot see overfitting.
    """
    p = probs_of(fake, extractor)
    scores = [math.exp(mean_kl(part, part.mean(0))) for part in p.chunk(min(splits, len(p)))]
    values = torch.tensor(scores, dtype=torch.float64)
    return MeanStd(float(values.mean()), float(values.std(unbiased=False)))


def mode_score(real: torch.Tensor | Embedding, fake: torch.Tensor | Embedding, *,
               extractor: FeatureExtractor | None = None) -> float:
    """Mode Score (Che et al. 2017): exp(E_x KL(p(y|x) || p(y)) - KL(p(y) || p*(y))), in one split.

    p(y) is the generated images' class marginal, p*(y) the real images'. It is the IS of the
    whole set times exp(-KL(p || p*)), which punishes class frequencies unlike the data's.
    Written as in Xu et al. 2018: Che et al.'s own form, with p*(y) inside the first KL, equals
    IS identically (the two KL(p || p*) terms cancel), so it could not penalise anything.
    """
    p_fake, p_real = probs_of(fake, extractor), probs_of(real, extractor)
    marginal, data_marginal = p_fake.mean(0), p_real.mean(0)
    return math.exp(mean_kl(p_fake, marginal) - kl(marginal, data_marginal))


def mean_kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """Mean over rows of KL(p_i || q); p is N x K, q is K."""
    return float((p * ((p + EPS).log() - (q + EPS).log())).sum(1).mean())


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) of two K-vectors."""
    return mean_kl(p.unsqueeze(0), q)
