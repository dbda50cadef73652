"""The pretrained weights shipped inside the zoo: every built-in tag loads offline with its
sha256 checked, its card records how it was made and what it measured, and the measured
numbers hold when recomputed here on the real MNIST test set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from shipped import open_shipped, shipped_tags

SHIPPED = shipped_tags("classification")


def test_both_lenet5_variants_ship_mnist_weights():
    assert {"lenet5.mnist", "lenet5_classic.mnist"} <= set(SHIPPED)


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_shipped_bundle_matches_its_manifest_entry_and_card(tag):
    ref = SHIPPED[tag]
    shipped = open_shipped(ref)
    doc, card = shipped.doc, shipped.card
    assert doc["tag"] == ref.tag.tag and f"{doc['plugin']}:{doc['model']}" == shipped.model.zoo_name
    assert doc["metrics"] == ref.tag.metrics and "test_accuracy" in doc["metrics"]
    assert doc["command"].startswith(f"zoo train {ref.spec.name} ") and "--data mnist" in doc["command"]
    assert doc["command"] in card and "zoo eval" in card and f"| test_accuracy | {doc['metrics']['test_accuracy']:.6g} |" in card
    assert ref.tag.size < 1_000_000, "shipped weights must stay small"


@pytest.fixture(scope="module")
def mnist_test(mnist_home, tmp_path_factory) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.data import load_dataset

    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_HOME", str(mnist_home))
    try:
        ds = load_dataset("mnist", split="test")
    finally:
        mp.undo()
    return ds.images, ds.labels


def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy with the preprocessing the bundle declares (not the trainer's code path)."""
    from zoo.data import prepare_batch

    pre = model.zoo_bundle.preprocessing
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), 1000):
            x = prepare_batch(images[i:i + 1000], tuple(pre.input_size), pre.in_chans, pre.mean, pre.std)
            correct += int((model(x).argmax(1) == labels[i:i + 1000]).sum())
    return correct / len(labels)


def test_lenet5_mnist_scores_at_least_99_percent_on_the_mnist_test_set(mnist_test):
    images, labels = mnist_test
    assert len(labels) == 10_000
    assert _accuracy(zoo.load("lenet5.mnist"), images, labels) >= 0.990


@pytest.mark.parametrize("tag", sorted(t for t in SHIPPED if SHIPPED[t].tag.data == "mnist"))
def test_declared_test_accuracy_is_what_the_weights_score(tag, mnist_test):
    declared = SHIPPED[tag].tag.metrics["test_accuracy"]
    assert _accuracy(zoo.load(tag), *mnist_test) == pytest.approx(declared, abs=0.0015)


def test_installed_wheel_loads_its_shipped_weights_offline(tmp_path):
    """Built and installed like a user's `pip install`, the wheel carries every shipped bundle."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "dist"), str(root)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("zoo-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    script = ("import sys, zoo\nfrom zoo.weights.tags import find_tag\n"
              "for tag in sys.argv[1:]:\n"
              "    assert find_tag(tag).location.startswith(%r), find_tag(tag).location\n"
              "    print(tag, zoo.load(tag).zoo_name)\n") % str(site)
    done = subprocess.run([sys.executable, "-c", script, *sorted(SHIPPED)], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [w for t in sorted(SHIPPED) for w in (t, SHIPPED[t].spec.qualified_name)]
