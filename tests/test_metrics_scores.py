"""Each metric against an independent computation on a case whose answer is known.

Feature sets are synthetic (seeded Gaussians), so these tests need no data and no extractor.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from zoo.metrics import fid, inception_score, kid, mmd, mode_score, one_nn, precision_recall, wasserstein


def gaussian(n: int, d: int, seed: int, mean: float = 0.0, scale: float | torch.Tensor = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + mean


def empirical_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The closed form on the samples' own mean and covariance, with scipy's matrix square root."""
    from scipy.linalg import sqrtm

    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


# ---------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(2000, 16, seed=0)
    assert abs(fid(x, x)) < 1e-6


def test_fid_of_two_gaussian_sets_equals_the_closed_form():
    x = gaussian(4000, 8, seed=1, scale=torch.linspace(0.5, 2.0, 8))
    y = gaussian(4000, 8, seed=2, mean=0.3, scale=torch.linspace(1.0, 1.5, 8))
    assert fid(x, y) == pytest.approx(empirical_fid(x.numpy(), y.numpy()), rel=1e-6)


def test_fid_of_large_gaussian_samples_approaches_the_population_closed_form():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum_i (s1_i - s2_i)^2 with standard deviations s.
    s1, s2 = torch.linspace(0.5, 2.0, 4), torch.full((4,), 1.0)
    x = gaussian(50_000, 4, seed=3, scale=s1)
    y = gaussian(50_000, 4, seed=4, mean=0.5, scale=s2)
    population = 4 * 0.5**2 + float(((s1 - s2) ** 2).sum())
    assert fid(x, y) == pytest.approx(population, rel=0.03)


# ---------------------------------------------------------------- KID and MMD


def unbiased_poly_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """MMD^2_u with k(a, b) = (a.b / d + 1)^3, written out with explicit off-diagonal masks."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    n, m = len(x), len(y)
    off = lambda size: ~np.eye(size, dtype=bool)  # noqa: E731
    return float(k(x, x)[off(n)].mean() + k(y, y)[off(m)].mean() - 2 * k(x, y).mean())


def test_kid_with_one_subset_of_everything_equals_the_unbiased_polynomial_mmd():
    x, y = gaussian(300, 6, seed=5), gaussian(300, 6, seed=6, mean=0.2)
    result = kid(x, y, subsets=3, subset_size=300)  # every subset is the whole set
    assert result.mean == pytest.approx(unbiased_poly_mmd(x.numpy(), y.numpy()), rel=1e-9)
    assert result.std == pytest.approx(0.0, abs=1e-12)


def test_unbiased_kid_is_near_zero_for_one_distribution_and_not_for_a_shifted_one():
    x, y = gaussian(3000, 8, seed=7), gaussian(3000, 8, seed=8)
    same = kid(x, y, subsets=20, subset_size=1000)
    shifted = kid(x, gaussian(3000, 8, seed=9, mean=0.5), subsets=20, subset_size=1000)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert shifted.mean > 50 * max(abs(same.mean), same.std)


def test_kid_subsets_are_fixed_by_the_seed():
    x, y = gaussian(1500, 4, seed=10), gaussian(1500, 4, seed=11, mean=0.1)
    assert kid(x, y, subsets=5, subset_size=200, seed=3) == kid(x, y, subsets=5, subset_size=200, seed=3)
    assert kid(x, y, subsets=5, subset_size=200, seed=3) != kid(x, y, subsets=5, subset_size=200, seed=4)


def test_gaussian_mmd_equals_sklearn_rbf_kernel_means():
    from sklearn.metrics.pairwise import rbf_kernel

    x, y = gaussian(400, 5, seed=12), gaussian(300, 5, seed=13, mean=0.3)
    sigma = 1.7
    gamma = 1 / (2 * sigma**2)
    kxx, kyy, kxy = (rbf_kernel(a, b, gamma=gamma) for a, b in ((x, x), (y, y), (x, y)))
    expected = ((kxx.sum() - 400) / (400 * 399) + (kyy.sum() - 300) / (300 * 299) - 2 * kxy.mean())
    assert mmd(x, y, bandwidth=sigma) == pytest.approx(expected, rel=1e-9)


def test_gaussian_mmd_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    x = gaussian(2000, 8, seed=14)
    same = mmd(x, gaussian(2000, 8, seed=15))
    near, far = mmd(x, gaussian(2000, 8, seed=16, mean=0.2)), mmd(x, gaussian(2000, 8, seed=17, mean=1.0))
    assert abs(same) < 1e-3
    assert 10 * abs(same) < near < far


# ---------------------------------------------------------------- 1-NN


def test_one_nn_is_100_percent_for_disjoint_sets():
    result = one_nn(gaussian(500, 4, seed=18), gaussian(500, 4, seed=19, mean=20.0))
    assert result == (1.0, 1.0, 1.0)


def test_one_nn_is_about_50_percent_for_one_distribution():
    result = one_nn(gaussian(2000, 4, seed=20), gaussian(2000, 4, seed=21))
    assert result.accuracy == pytest.approx(0.5, abs=0.03)  # 4,000 points: binomial sd 0.8%
    assert result.accuracy == pytest.approx((result.real + result.fake) / 2)


def test_one_nn_is_near_0_percent_for_copies_of_the_real_set():
    """Memorised training points: each copy's nearest neighbour is its original, which IS cannot see."""
    x = gaussian(500, 4, seed=22)
    assert one_nn(x, x + 1e-6).accuracy == 0.0


def test_one_nn_agrees_with_sklearn_leave_one_out_neighbours():
    from sklearn.neighbors import NearestNeighbors

    x, y = gaussian(300, 3, seed=23), gaussian(200, 3, seed=24, mean=0.4)
    points = np.concatenate([x.numpy(), y.numpy()])
    labels = np.array([1] * 300 + [0] * 200)
    _, idx = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points)  # [self, nearest other]
    correct = labels[idx[:, 1]] == labels
    result = one_nn(x, y)
    assert result == pytest.approx((correct.mean(), correct[:300].mean(), correct[300:].mean()))


# ---------------------------------------------------------------- IS and Mode Score


def one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, k).double()


def test_inception_score_equals_the_number_of_classes_for_confident_uniform_predictions():
    probs = one_hot(torch.arange(1000) % 10, 10)  # every split of 100 holds each class 10 times
    score = inception_score(probs, splits=10)
    assert score.mean == pytest.approx(10.0, rel=1e-9)
    assert score.std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_is_one_when_every_image_gets_the_same_class():
    assert inception_score(one_hot(torch.zeros(200, dtype=torch.long), 10)).mean == pytest.approx(1.0)


def test_inception_score_agrees_with_torchmetrics():
    from torchmetrics.image.inception import InceptionScore

    g = torch.Generator().manual_seed(25)
    logits = torch.randn(500, 10, generator=g, dtype=torch.float64) * 3
    metric = InceptionScore(feature=torch.nn.Identity(), splits=1)
    metric.update(logits)
    expected, _ = metric.compute()  # splits=1: torchmetrics' shuffle changes nothing
    assert inception_score(logits.softmax(1), splits=1).mean == pytest.approx(float(expected), rel=1e-6)


def test_mode_score_is_inception_score_times_the_class_frequency_penalty():
    fake = (gaussian(800, 10, seed=26) * 2).softmax(1)
    real = (gaussian(800, 10, seed=27) * 2 + torch.linspace(0, 1, 10, dtype=torch.float64)).softmax(1)
    p, p_star = fake.mean(0).numpy(), real.mean(0).numpy()
    penalty = float((p * np.log(p / p_star)).sum())  # KL(p(y) || p*(y))
    assert penalty > 0.01
    assert mode_score(real, fake) == pytest.approx(inception_score(fake, splits=1).mean * math.exp(-penalty), rel=1e-6)


def test_mode_score_equals_inception_score_when_class_frequencies_match_the_data():
    fake = one_hot(torch.arange(600) % 6, 6)
    real = one_hot(torch.arange(300) % 6, 6)
    assert mode_score(real, fake) == pytest.approx(inception_score(fake, splits=1).mean, rel=1e-9)


def test_mode_score_punishes_a_generator_that_drops_half_the_classes():
    real = one_hot(torch.arange(1000) % 10, 10)
    fake = one_hot(torch.arange(1000) % 5, 10)  # confident, but only digits 0-4
    assert inception_score(fake, splits=1).mean == pytest.approx(5.0)
    assert mode_score(real, fake) == pytest.approx(5.0 * math.exp(-math.log(2)))  # KL = log 2


# ---------------------------------------------------------------- Wasserstein


def test_exact_wasserstein_equals_a_hand_solved_assignment():
    # Real points on a unit square's corners, four fake points elsewhere; uniform weights, so
    # the optimal plan is the cheapest one-to-one assignment.
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    fake = torch.tensor([[3.0, 0.0], [0.0, 0.5], [1.0, 1.5], [1.0, 0.0]], dtype=torch.float64)
    # By hand: (0,0)->(0,0.5) 0.5, (1,0)->(1,0) 0, (0,1)->(1,1.5) sqrt(1.25), (1,1)->(3,0) sqrt(5);
    # every other of the 24 permutations costs more (checked below by brute force).
    hand = (0.5 + 0.0 + math.sqrt(1.25) + math.sqrt(5.0)) / 4
    brute = min(sum(float(torch.dist(real[i], fake[j])) for i, j in enumerate(perm))
                for perm in itertools.permutations(range(4))) / 4
    assert hand == pytest.approx(brute)
    result = wasserstein(real, fake, subsets=1, subset_size=4)
    assert result.mean == pytest.approx(hand, rel=1e-9)


def test_wasserstein_of_a_set_with_a_translated_copy_is_the_translation():
    x = gaussian(200, 3, seed=27)
    shift = torch.tensor([0.3, -0.4, 0.0], dtype=torch.float64)  # length 0.5
    assert wasserstein(x, x + shift, subsets=1, subset_size=200).mean == pytest.approx(0.5, rel=1e-6)


# ---------------------------------------------------------------- precision and recall


def brute_force_precision_recall(x: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    def radii(a: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(a[:, None] - a[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def covered(q: np.ndarray, c: np.ndarray, r: np.ndarray) -> float:
        d = np.linalg.norm(q[:, None] - c[None], axis=2)
        return float((d <= r[None]).any(1).mean())

    return covered(y, x, radii(x)), covered(x, y, radii(y))


def test_precision_recall_agree_with_a_brute_force_count():
    x, y = gaussian(300, 3, seed=28), gaussian(250, 3, seed=29, mean=0.5, scale=0.7)
    assert tuple(precision_recall(x, y, k=3)) == pytest.approx(brute_force_precision_recall(x.numpy(), y.numpy(), 3))


def test_a_generator_of_half_the_modes_has_full_precision_and_half_recall():
    centres = torch.tensor([[0.0, 0.0], [50.0, 0.0]], dtype=torch.float64)
    real = torch.cat([gaussian(500, 2, seed=30) + centres[0], gaussian(500, 2, seed=31) + centres[1]])
    fake = gaussian(1000, 2, seed=32) + centres[0]  # every sample from the first mode
    result = precision_recall(real, fake)
    assert result.precision > 0.95
    assert result.recall == pytest.approx(0.5, abs=0.05)


def test_disjoint_sets_have_zero_precision_and_recall():
    assert tuple(precision_recall(gaussian(300, 4, seed=33), gaussian(300, 4, seed=34, mean=30.0))) == (0.0, 0.0)
