"""Validation by default: a run chooses on a held-out 'val' split and reads 'test' once, at the end, to report.

The hold-out itself (zoo.data.holdout) is checked on labels alone; the runs are tiny real MNIST runs in
this process, with the data layer spied on: every split any code asks `zoo.data` for is recorded, and
so is every evaluation, against the split its data came from.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import zoo.data
import zoo.data.loading
from cli_runner import run_zoo
from zoo.data import DataConfig, DataError
from zoo.data.holdout import AUTO_MAX, holdout_indices, quotas, val_count

TINY = ["--epochs", "2", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=200"]


# ---------------------------------------------------------------- the hold-out


def test_auto_holds_out_a_tenth_of_the_training_split_at_most_5000():
    assert [val_count(n, "auto") for n in (2, 9, 160, 1000, 50_000, 60_000, 1_281_167)] == \
        [1, 1, 16, 100, 5000, 5000, AUTO_MAX]
    assert val_count(600, 37) == 37
    with pytest.raises(DataError, match="too few to hold out a validation split; set data.val_size=0"):
        val_count(1, "auto")


def test_holdout_keeps_each_class_share_and_never_takes_a_class_last_example():
    labels = torch.tensor([0] * 690 + [1] * 200 + [2] * 104 + [3] * 6)  # sorted by class, as a folder's files are
    held = holdout_indices(labels, 100)
    assert len(held) == len(set(held.tolist())) == 100
    assert torch.bincount(labels[held], minlength=4).tolist() == [69, 20, 10, 1]  # 10.4 and 0.6: largest remainder
    assert quotas([1, 1, 5], 6) == [0, 0, 4]  # a lone example stays for training; the rest cannot give more
    assert labels[held[:10]].unique().numel() > 1  # val comes in the draw's order: its head is not one class


def test_holdout_is_the_same_draw_every_time_and_another_with_another_seed():
    labels = torch.arange(1000) % 10
    assert torch.equal(holdout_indices(labels, 100), holdout_indices(labels, 100))
    assert not torch.equal(holdout_indices(labels, 100), holdout_indices(labels, 100, seed=1))


def test_val_and_train_partition_the_training_split(mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    cfg = DataConfig(name="mnist", val_size="auto")
    train, val = zoo.data.load_dataset(cfg, "train"), zoo.data.load_dataset(cfg, "val")
    whole = zoo.data.load_dataset("mnist", "train")
    assert (len(train), len(val), len(whole)) == (55_000, 5_000, 60_000)
    held = holdout_indices(whole.labels, 5000)
    rest = torch.ones(60_000, dtype=torch.bool)
    rest[held] = False
    assert torch.equal(val.images, whole.images[held]) and torch.equal(val.labels, whole.labels[held])
    assert torch.equal(train.images, whole.images[rest]) and torch.equal(train.labels, whole.labels[rest])
    shares = zip(torch.bincount(val.labels, minlength=10).tolist(), torch.bincount(whole.labels).tolist())
    assert all(abs(held_c - 5000 * c / 60_000) < 1 for held_c, c in shares)  # each class's share, to one example


def test_an_explicit_val_size_that_would_empty_a_class_is_refused(tmp_path):
    from zoo.data.holdout import hold_out

    class Tiny:
        name, per_example, split = "tiny", (), "train"
        images, labels = torch.zeros(4, 1, 8, 8), torch.tensor([0, 0, 1, 2])

        def __len__(self):
            return 4

    with pytest.raises(DataError, match=r"val_size=2 would leave a class without training examples \(tiny has 4 "
                                        r"training examples in 3 classes; at most 1 can be held out\)"):
        hold_out(Tiny(), "train", 2)


# ---------------------------------------------------------------- runs


class Spy:
    """Records every split read through zoo.data and every evaluation, with the split its data came from."""

    def __init__(self, monkeypatch, task_cls):
        self.events: list[tuple[str, str]] = []
        self.origin: dict[int, str] = {}
        real_load = zoo.data.loading.load_dataset

        def load_dataset(data=None, split="train", **fields):
            self.events.append(("load", split))
            return real_load(data, split, **fields)

        real_split, real_evaluate = task_cls.load_split, task_cls.evaluate

        def load_split(task, split, limit=None):
            batch = real_split(task, split, limit)
            self.origin[id(batch["images"])] = split
            return batch

        def evaluate(task, data):
            self.events.append(("evaluate", self.origin.get(id(data["images"]), "?")))
            return real_evaluate(task, data)

        monkeypatch.setattr(zoo.data.loading, "load_dataset", load_dataset)
        monkeypatch.setattr(zoo.data, "load_dataset", load_dataset, raising=False)
        monkeypatch.setattr(task_cls, "load_split", load_split)
        monkeypatch.setattr(task_cls, "evaluate", evaluate)

    def first(self, event: tuple[str, str]) -> int:
        return self.events.index(event)


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model, extra, task_path", [
    ("lenet5", [], "zoo.tasks.classification:ClassificationTask"),
    ("dcgan", ["--set", "model.width=8"], "zoo.tasks.adversarial:AdversarialTask"),  # its best FID too
])
def test_selection_reads_only_val_and_test_is_read_once_after_the_last_choice(model, extra, task_path, mnist_home,
                                                                              tmp_path, capsys, monkeypatch):
    import importlib

    module, _, name = task_path.partition(":")
    spy = Spy(monkeypatch, getattr(importlib.import_module(module), name))
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", model, "--data", "mnist", "--out", str(out), *TINY, *extra)
    assert r.code == 0, r.err
    evaluations = [split for kind, split in spy.events if kind == "evaluate"]
    assert evaluations == ["val", "val", "test"]  # two epochs chose on val; the last one reports
    assert [s for kind, s in spy.events if kind == "load"].count("test") == 1
    assert spy.first(("load", "test")) > max(i for i, e in enumerate(spy.events) if e == ("evaluate", "val"))
    recs = records(out)
    assert [r["split"] for r in recs if r["kind"] == "eval"] == ["val", "val"]
    end = recs[-1]
    assert end["kind"] == "end" and end["split"] == "test"
    card = json.loads((out / "bundle/config.json").read_text())
    assert card["evaluation"] == {"chosen_on": "val", "chosen_examples": 200, "reported_on": "test",
                                  "reported_examples": 200, "val_size": "auto"}
    main = "accuracy" if model == "lenet5" else "fid"
    assert card["metrics"][f"test_{main}"] == end[f"eval_{main}"]
    assert "Chosen on val, reported on test" in (out / "bundle/README.md").read_text()
    assert "weights chosen on val" in r.err


def test_val_size_0_chooses_on_test_and_the_card_says_so(mnist_home, tmp_path, capsys, monkeypatch):
    from zoo.tasks.classification import ClassificationTask

    spy = Spy(monkeypatch, ClassificationTask)
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", "mnist", "--out", str(out), *TINY, "--set", "data.val_size=0")
    assert r.code == 0, r.err
    assert [s for kind, s in spy.events if kind == "evaluate"] == ["test", "test", "test"]
    assert [s for kind, s in spy.events if kind == "load"] == ["train", "test"]  # loaded once, used throughout
    assert [r["split"] for r in records(out) if r["kind"] in ("eval", "end")] == ["test", "test", "test"]
    card = json.loads((out / "bundle/config.json").read_text())
    assert card["evaluation"]["chosen_on"] == "test"
    assert "Selection used the test split (data.val_size=0)" in (out / "bundle/README.md").read_text()


def test_the_test_report_changes_nothing_that_ships(mnist_home, tmp_path, capsys, monkeypatch):
    """An autoencoder's evaluation refits the prior its samples are drawn from: the bundle keeps the one fitted
    on val (the last epoch's, as in last.safetensors), not one fitted on test by the final report."""
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "stacked_ae", "--data", "mnist", "--out", str(out), *TINY)
    assert r.code == 0, r.err
    shipped, last = load_file(out / "bundle/model.safetensors"), load_file(out / "last.safetensors")
    assert shipped.keys() == last.keys() and all(torch.equal(shipped[k], last[k]) for k in shipped)
    prior = [k for k in shipped if k.endswith("code_mean")]
    assert prior
    import zoo
    from zoo.data import prepare_batch

    model = zoo.from_pretrained(out / "bundle")
    _, height, width = model.zoo_config.input_shape()
    test = prepare_batch(zoo.data.load_dataset("mnist", "test").images[:200], (height, width), 1)
    with torch.no_grad():
        codes = model(test).code
    assert not torch.allclose(codes.mean(0), shipped[prior[0]])  # a prior fitted by the test report would be this
