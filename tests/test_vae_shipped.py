"""The shipped autoencoder and VAE weights: each tag loads offline with its sha256 checked, its
card records the `zoo train` command and the `zoo eval` that measured it, the declared test
numbers hold when recomputed here, and the cvae draws the digit it is asked for."""

from __future__ import annotations


import pytest
import torch

import zoo
from shipped import open_shipped, shipped_tags

SHIPPED = shipped_tags("autoencoding", "variational")


def test_the_four_autoencoder_and_vae_tags_ship():
    assert {"vae.mnist", "stacked_ae.mnist", "ae_2d.mnist", "cvae.mnist"} <= set(SHIPPED)


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_shipped_bundle_matches_its_manifest_entry_and_card(tag):
    ref = SHIPPED[tag]
    shipped = open_shipped(ref)
    doc = shipped.doc
    assert doc["metrics"] == ref.tag.metrics and doc["command"].startswith(f"zoo train {ref.spec.name} --data mnist")
    assert doc["command"] in shipped.card and "measured by `zoo eval" in shipped.card
    assert ref.tag.size < 4_000_000, "shipped weights must stay a few MB at most"
    assert {k.split(".")[0] for k in shipped.model.state_dict()} == {"encoder", "decoder"}


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_declared_test_metrics_are_what_the_weights_score(tag, mnist_home, monkeypatch):
    from zoo.engine.inference import load_trained

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    loaded = load_trained(tag)
    task = loaded.task
    result = task.evaluate(task.load_split("test"))
    declared = SHIPPED[tag].tag.metrics
    for key in (task.main_metric, "mse" if task.main_metric == "loss" else "kl"):
        assert result[key] == pytest.approx(declared[f"test_{key}"], rel=1e-5), key


def test_cvae_mnist_draws_the_digit_it_is_asked_for():
    cvae, lenet = zoo.load("cvae.mnist").eval(), zoo.load("lenet5.mnist").eval()
    from zoo.data import prepare_batch

    pre = lenet.zoo_bundle.preprocessing
    hits = 0
    for digit in range(10):
        images = cvae.sample(20, generator=torch.Generator().manual_seed(digit), condition=digit)
        pixels = (images * 255).round().to(torch.uint8)
        with torch.no_grad():
            guess = lenet(prepare_batch(pixels, tuple(pre.input_size), pre.in_chans, pre.mean, pre.std)).argmax(1)
        assert int(guess.mode().values) == digit, f"asked for {digit}, LeNet-5 read {guess.tolist()}"
        hits += int((guess == digit).sum())
    # Prior samples are Bernoulli means, some blurred; measured 143 of 200 read as asked (chance: 20).
    assert hits >= 120
