"""The collapse census (zoo.metrics.coverage): shares for however many classes the extractor has, and a warning
that names how many it covers."""

from __future__ import annotations

import pytest
import torch

from zoo.metrics.coverage import collapse_warning, coverage


def probs_for(classes: list[int], k: int, confidence: float = 0.95) -> torch.Tensor:
    """One row per sample: `confidence` on its class, the rest spread evenly."""
    rows = torch.full((len(classes), k), (1 - confidence) / (k - 1), dtype=torch.float64)
    rows[torch.arange(len(classes)), torch.tensor(classes)] = confidence
    return rows


@pytest.mark.parametrize("k", [3, 10, 20])
def test_census_has_one_share_per_class_of_the_extractor(k):
    census = coverage(probs_for([c % k for c in range(10 * k)], k))
    assert [key for key in census if key.startswith("share_")] == [f"share_{c}" for c in range(k)]
    assert census["modes"] == k and census["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert census["confident"] == 1.0


def test_census_of_one_class_is_one_mode_at_log_k_from_uniform():
    census = coverage(probs_for([2] * 50, 4, confidence=0.6))
    assert census["modes"] == 1 and census["share_2"] == 1.0
    assert census["kl_uniform"] == pytest.approx(torch.log(torch.tensor(4.0)).item())
    assert census["confident"] == 0.0  # 0.6 < 0.9


def test_collapse_warning_names_how_many_of_how_many_classes_are_covered():
    census = coverage(probs_for([0] * 60 + [7] * 40, 20))
    assert collapse_warning(census) == "mode collapse? samples cover only 2 of 20 classes (0: 60%, 7: 40%)"
    assert collapse_warning(census, "digits").endswith("2 of 20 digits (0: 60%, 7: 40%)")


def test_no_collapse_warning_for_illegible_samples_or_half_the_classes_covered():
    assert collapse_warning(coverage(probs_for([0] * 100, 10, confidence=0.5))) is None  # early blobs: not legible
    assert collapse_warning(coverage(probs_for([c % 5 for c in range(100)], 10))) is None  # 5 of 10 covered
    assert collapse_warning(coverage(probs_for([c % 4 for c in range(100)], 10))) is not None  # 4 of 10
