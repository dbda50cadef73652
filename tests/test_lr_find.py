"""zoo lr-find: an exponential lr ramp over the run's own steps, the smoothed loss plotted, the steepest descent
suggested, and the model, its optimizers and the RNG left as they were."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cli_runner import run_zoo

TINY = ["--data", "mnist", "--batch-size", "64", "--set", "threads=1", "--set", "max_train_examples=1024",
        "--set", "max_eval_examples=64"]


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.chdir(tmp_path)


def test_the_suggestion_is_the_steepest_descent_of_the_smoothed_loss_before_its_lowest_point():
    from zoo.lr_find import steepest

    lrs = [10 ** (-6 + 0.1 * i) for i in range(61)]  # 1e-6 .. 1
    # falls fastest at 1e-3 (a logistic step in log lr), lowest at 1e-1, then climbs steeply (falling again after)
    curve = [2.3 - 2 / (1 + math.exp(-3 * (math.log10(lr) + 3))) for lr in lrs]
    curve = [v if lr <= 0.1 else v + 50 * (math.log10(lr) + 1) - 20 * max(0, math.log10(lr) + 0.5) ** 2
             for v, lr in zip(curve, lrs)]
    assert steepest(lrs, curve) == pytest.approx(1e-3)


def test_smoothing_is_an_exponential_average_without_the_start_pulled_to_zero():
    from zoo.lr_find import smooth

    assert smooth([2.0] * 5) == pytest.approx([2.0] * 5)
    assert smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])


def test_the_range_test_leaves_the_weights_the_optimizer_state_and_the_rng_as_they_were(tmp_path):
    from zoo.engine.config import compose
    from zoo.engine.rundir import RunDir
    from zoo.engine.trainer import Trainer
    from zoo.lr_find import range_test

    config = compose("lenet5", {"train": {"batch_size": 64, "max_train_examples": 1024, "max_eval_examples": 64,
                                          "threads": 1}}, data_name="mnist")
    trainer = Trainer(config, RunDir(tmp_path / "never"), quiet=True)
    trainer.setup()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    optim_before = trainer.optimizers["model"].state_dict()
    rng = torch.random.get_rng_state()
    result = range_test(trainer, steps=30, start_lr=1e-5, end_lr=1.0)
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.optimizers["model"].state_dict()["state"] == optim_before["state"] == {}
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert not (tmp_path / "never").exists()
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert result.lrs[0] == pytest.approx(1e-5) and ratios == pytest.approx([10 ** (5 / 29)] * len(ratios))
    assert result.losses[0] == pytest.approx(math.log(10), abs=0.2)  # an untrained classifier: chance
    assert min(result.smoothed) < result.smoothed[0] - 0.1  # the loss fell somewhere on the ramp


def test_lr_find_prints_a_suggestion_within_the_ramp_and_writes_its_plot(tmp_path, capsys):
    r = run_zoo(capsys, "lr-find", "lenet5", "--steps", "40", "--start-lr", "1e-5", "--end-lr", "1", "--json",
                "--out", str(tmp_path / "lr.png"), *TINY)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["recipe_lr"] == 4e-3 and doc["model"] == "zoo:lenet5" and doc["data"] == "mnist"
    at = doc["lrs"].index(doc["suggestion"])
    assert 10 <= at and doc["smoothed"][at + 1] < doc["smoothed"][at - 1]  # on a descent, past the settling steps
    assert (tmp_path / "lr.png").stat().st_size > 5000
    assert not (tmp_path / "runs").exists()  # no run directory is made


@pytest.mark.parametrize("args, says", [
    (["--start-lr", "1", "--end-lr", "0.1"], "need 0 < start < end"),
    (["--steps", "5"], "--steps 5: the test needs at least 13 steps"),
    (["--resume", "somewhere"], "zoo lr-find takes no training --resume"),
])
def test_a_bad_range_is_one_line_exit_2(capsys, args, says):
    r = run_zoo(capsys, "lr-find", "lenet5", *args, *TINY)
    assert r.code == 2 and says in r.err and len(r.err.strip().splitlines()) == 1, r.err
