"""The shipped GAN weights load offline and draw what their cards say (judged by lenet5.mnist)."""

from __future__ import annotations

import pytest
import torch

import zoo


@pytest.fixture(scope="module")
def judge():
    from zoo.metrics import load_extractor

    return load_extractor("lenet5_mnist")


@pytest.mark.parametrize("tag", [t for t in zoo.list_models(task="adversarial", pretrained=True)])
def test_shipped_generator_samples_on_its_own_and_matches_its_card(tag, judge):
    model = zoo.load(tag)  # sha256-checked against the manifest, offline
    images = model.sample(500, generator=torch.Generator().manual_seed(5))
    assert images.shape == (500, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    probs = judge.embed(images).probs
    confident = float((probs.max(1).values >= 0.9).double().mean())
    declared = model.zoo_bundle.metrics["confident"]
    assert abs(confident - declared) < 0.08, f"{confident:.2f} of 500 confident vs {declared:.2f} declared at 10k"
    assert len(torch.bincount(probs.argmax(1), minlength=10).nonzero()) == 10


def test_cgan_mnist_draws_the_digit_it_is_asked_for(judge):
    model = zoo.load("cgan.mnist")
    for digit in (0, 3, 7):
        probs = judge.embed(model.sample(200, generator=torch.Generator().manual_seed(digit), condition=digit)).probs
        assert (probs.argmax(1) == digit).double().mean() > 0.8
