"""`zoo eval`, `zoo predict` and `zoo sample` on a classifier trained here on real MNIST."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cli_runner import run_zoo


@pytest.fixture(scope="module")
def trained(mnist_home, tmp_path_factory) -> Path:
    """A LeNet-5 run: 2 epochs on 4,096 MNIST digits, evaluated on the first 500 test digits."""
    from zoo.cli import main

    out = tmp_path_factory.mktemp("eval") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_HOME", str(mnist_home))
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "lenet5", "--out", str(out), "--epochs", "2", "--batch-size", "128", "--quiet",
                  "--set", "max_train_examples=4096", "--set", "max_eval_examples=500"])
    assert exit_info.value.code == 0
    return out


@pytest.fixture
def home(mnist_home, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    return mnist_home


def test_eval_accuracy_agrees_with_confusion_matrix_and_training_log(trained, home, tmp_path, capsys):
    png = tmp_path / "cm.png"
    r = run_zoo(capsys, "eval", "lenet5", "--weights", str(trained), "--data", "mnist", "--n", "500",
                "--out", str(png), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    matrix = torch.tensor(doc["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == doc["examples"] == 500
    assert doc["accuracy"] == pytest.approx(float(matrix.diag().sum()) / 500)
    for i, acc in enumerate(doc["per_class_accuracy"].values()):
        assert acc == pytest.approx(float(matrix[i, i] / matrix[i].sum()))
    end = json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])
    assert doc["accuracy"] == pytest.approx(end["eval_accuracy"])  # the same 500 digits, the same weights
    assert doc["accuracy"] > 0.8
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_eval_prints_per_class_table_for_a_bundle(trained, home, tmp_path, capsys):
    r = run_zoo(capsys, "eval", "--weights", str(trained / "bundle"), "--n", "200", "--out", str(tmp_path / "c.png"))
    assert r.code == 0, r.err
    assert "confusion matrix (rows: true, columns: predicted)" in r.out
    assert "zoo:lenet5 on mnist test (200 examples): accuracy" in r.out


def test_eval_refuses_weights_of_another_model(trained, home, capsys):
    r = run_zoo(capsys, "eval", "vgg11", "--weights", str(trained))
    assert (r.code, r.err.strip()) == (2, f"error: {trained} holds weights of zoo:lenet5, not zoo:vgg11")


def test_predict_gives_top_k_probabilities_matching_the_model(trained, home, tmp_path, capsys):
    from PIL import Image

    from zoo.data import load_dataset
    from zoo.engine.inference import load_trained

    test = load_dataset("mnist", "test")
    files = []
    for i in range(4):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray(test.images[i, 0].numpy()).save(files[-1])
    r = run_zoo(capsys, "predict", "--weights", str(trained / "bundle"), *map(str, files), "--top-k", "3", "--json")
    assert r.code == 0, r.err
    results = json.loads(r.out)
    task = load_trained(str(trained / "bundle")).task
    expected = task.predict(test.images[:4]).softmax(1)
    for i, res in enumerate(results):
        probs = [t["probability"] for t in res["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert res["top"][0]["index"] == int(expected[i].argmax())
        assert probs[0] == pytest.approx(float(expected[i].max()), abs=1e-5)
        assert res["top"][0]["label"] == task.class_names()[res["top"][0]["index"]]


def test_predict_names_a_file_that_is_not_an_image(trained, home, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    r = run_zoo(capsys, "predict", "--weights", str(trained), str(bad))
    assert (r.code, r.err.strip()) == (2, f"error: {bad}: not an image this zoo can read (UnidentifiedImageError)")


def test_sample_on_a_classifier_writes_an_annotated_grid(trained, home, tmp_path, capsys, monkeypatch):
    from zoo.tasks import classification

    titles = []
    real_draw = classification.draw_grid

    def spy(images, labels, probs, names, out):
        titles.append((labels.tolist(), probs.argmax(1).tolist()))
        return real_draw(images, labels, probs, names, out)

    monkeypatch.setattr(classification, "draw_grid", spy)
    out = tmp_path / "grid.png"
    r = run_zoo(capsys, "sample", "lenet5", "--weights", str(trained), "--n", "16", "--out", str(out))
    assert r.code == 0, r.err
    from PIL import Image

    with Image.open(out) as img:
        assert img.width > 200 and img.height > 200
    labels, predicted = titles[0]
    assert len(labels) == len(predicted) == 16
    assert sum(a == b for a, b in zip(labels, predicted)) >= 10  # a trained classifier gets most right
