"""zoo sweep: real trials under the sweep directory, the pruner fed by each epoch's validation metric, failed trials
recorded with their reason, the study continued after a SIGKILL without losing or repeating a trial, two processes
on one SQLite study running exactly N trials between them, and bad space files refused in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cli_runner import run_zoo

TINY = ["--data", "mnist", "--epochs", "2", "--batch-size", "64", "--set", "threads=1", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=200"]
SPACE = """\
train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
train.weight_decay: {type: float, low: 0.0, high: 0.1}
train.batch_size: {type: categorical, choices: [32, 64]}
"""


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return path


def sweep(capsys, space, out, *args):
    r = run_zoo(capsys, "sweep", "lenet5", "--space", str(space), "--out", str(out), "--json", *args)
    return r, (json.loads(r.out) if r.code == 0 else None)


def evals(run_dir) -> list[float]:
    from zoo.engine.rundir import RunDir

    return [r["eval_accuracy"] for r in RunDir(run_dir).records() if r["kind"] == "eval"]


def test_a_four_trial_sweep_runs_real_trials_the_median_pruner_stops_on_val_and_the_best_config_trains(
        tmp_path, capsys, space):
    out = tmp_path / "sweep"
    r, doc = sweep(capsys, space, out, "--trials", "4", "--startup-trials", "1", "--best-bundle", str(tmp_path / "best"),
                   *TINY)
    assert r.code == 0, r.err
    trials = doc["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3] and doc["metric"] == "val_accuracy"
    assert {t["state"] for t in trials} == {"complete", "pruned"}, [t["state"] for t in trials]
    for t in trials:
        run = out / "trials" / f"trial-{t['number']:04d}"
        assert t["run"] == str(run) and (run / "config.yaml").is_file()
        # the pruner saw every evaluation the run made, on val, and nothing else
        assert list(t["intermediate"].values()) == pytest.approx(evals(run))
        if t["state"] == "complete":
            assert t["value"] == pytest.approx(evals(run)[-1]) and len(evals(run)) == 2
            assert (run / "bundle" / "model.safetensors").is_file() and 0 < t["test_accuracy"] <= 1
        else:
            assert len(evals(run)) == 1 and t["reason"].startswith("pruned after epoch 1")
    from zoo.config import load_config_file

    best = doc["best"]
    assert best["value"] == max(t["value"] for t in trials if t["state"] == "complete")
    chosen = load_config_file(out / "best.yaml")
    assert chosen["train"]["lr"] == pytest.approx(best["params"]["train.lr"])
    assert chosen["train"]["batch_size"] == best["params"]["train.batch_size"]
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == \
        (out / "trials" / f"trial-{best['number']:04d}" / "bundle" / "model.safetensors").read_bytes()
    assert (out / "history.png").stat().st_size > 1000 and (out / "importances.png").stat().st_size > 1000
    again = run_zoo(capsys, "train", "--config", str(out / "best.yaml"), "--out", str(tmp_path / "retrain"), "--quiet")
    assert again.code == 0, again.err
    assert evals(tmp_path / "retrain") == evals(out / "trials" / f"trial-{best['number']:04d}")  # the same run again

    # the same command on a finished study runs nothing more; another fixed part is refused
    r, doc = sweep(capsys, space, out, "--trials", "4", "--startup-trials", "1", *TINY)
    assert r.code == 0 and len(doc["trials"]) == 4
    r, _ = sweep(capsys, space, out, "--trials", "4", *TINY, "--set", "label_smoothing=0.1")
    assert r.code == 2 and "train.label_smoothing 0.0 -> 0.1" in r.err and len(r.err.strip().splitlines()) == 1


def test_a_diverged_trial_is_recorded_failed_with_its_reason_and_the_sweep_goes_on(tmp_path, capsys):
    space = tmp_path / "grid.yaml"
    space.write_text("train.lr: {grid: [0.05, 10000.0]}\n")
    r, doc = sweep(capsys, space, tmp_path / "sweep", "--sampler", "grid", "--pruner", "none", "--trials", "5",
                   "--optimizer", "momentum", *TINY)
    assert r.code == 0, r.err
    by_lr = {t["params"]["train.lr"]: t for t in doc["trials"]}
    assert sorted(by_lr) == [0.05, 10000.0]  # the grid's two points, once each (not 5 trials)
    assert by_lr[0.05]["state"] == "complete" and by_lr[0.05]["value"] > 0.1
    assert by_lr[10000.0]["state"] == "fail" and by_lr[10000.0]["reason"].startswith("training diverged: loss is")


def zoo_process(*args: str, env=None):
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], env=env or os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_sweep_killed_mid_trial_continues_without_losing_or_repeating_a_trial(tmp_path, capsys, space):
    out = tmp_path / "sweep"
    args = ["sweep", "lenet5", "--space", str(space), "--out", str(out), "--trials", "3", "--pruner", "none",
            *TINY, "--epochs", "4"]
    proc = zoo_process(*args)
    running = out / "trials" / "trial-0001" / "metrics.jsonl"
    deadline = time.time() + 120
    while not running.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert running.is_file(), proc.communicate()[1][-2000:]
    first = (out / "trials" / "trial-0000" / "metrics.jsonl").read_bytes()
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    r, doc = sweep(capsys, space, out, "--trials", "3", "--pruner", "none", *TINY, "--epochs", "4")
    assert r.code == 0, r.err
    states = {t["number"]: (t["state"], t["reason"]) for t in doc["trials"]}
    assert states[0] == ("complete", None) and states[1][0] == "fail" and states[1][1].startswith("interrupted")
    assert sorted(n for n, (s, _) in states.items() if s == "complete") == [0, 2, 3]  # 3 trials ran to their end
    assert (out / "trials" / "trial-0000" / "metrics.jsonl").read_bytes() == first  # trial 0 was not run again
    assert len({t["run"] for t in doc["trials"]}) == 4


def test_two_processes_sharing_one_sqlite_study_run_exactly_n_trials_between_them(tmp_path, capsys, space):
    out = tmp_path / "sweep"
    args = ["sweep", "lenet5", "--space", str(space), "--out", str(out), "--trials", "3", "--pruner", "none", *TINY,
            "--epochs", "1"]
    procs = [zoo_process(*args, "--sampler-seed", str(i)) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-1500:] for _, err in results]
    r, doc = sweep(capsys, space, out, "--trials", "3", "--pruner", "none", *TINY, "--epochs", "1")
    assert [t["state"] for t in doc["trials"]] == ["complete"] * 3
    ran = sorted(p.name for p in (out / "trials").iterdir())
    assert len(ran) == 3  # no trial ran twice, none past the third (a claim that came too late ran nothing)
    shares = [len(re.findall(r"(?m)^trial \d+: val_accuracy", err)) for _, err in results]
    assert sum(shares) == 3 and all(s >= 1 for s in shares), "both processes ran trials, 3 between them"


@pytest.mark.slow  # the parallel processes' machinery is the two-process test's, which runs by default
def test_jobs_runs_trials_in_parallel_processes_on_the_same_study(tmp_path, capsys, space):
    out = tmp_path / "sweep"
    r, doc = sweep(capsys, space, out, "--trials", "2", "--jobs", "2", "--pruner", "none", *TINY, "--epochs", "1")
    assert r.code == 0, r.err
    assert [t["state"] for t in doc["trials"]] == ["complete", "complete"]
    from zoo.config import load_config_file

    assert {load_config_file(t["run"] + "/config.yaml")["train"]["threads"] for t in doc["trials"]} == {1}


@pytest.mark.parametrize("text, says", [
    ("train.nonsense: {type: float, low: 0.1, high: 1.0}\n", "train.nonsense=0.1: invalid train config: unknown field 'nonsense'"),
    ("train.lr: {type: float, low: 0.1, high: 0.01}\n", "train.lr: low (0.1) must be below high (0.01)"),
    ("train.weight_decay: {type: float, low: -1.0, high: 0.1, log: true}\n",
     "train.weight_decay: log needs a positive range, got low -1.0"),
    ("train.lr: {type: float, low: -0.1, high: 0.1}\n", "train.lr=-0.1: "),
    ("train.lr: {type: normal, low: 0.1, high: 1.0}\n", "train.lr: type must be float, int or categorical"),
    ("train.lr: {type: float, low: 0.001, high: 0.1, scale: 2}\n", "train.lr.scale: Extra inputs are not permitted"),
    ("train.batch_size: {type: categorical, choices: []}\n", "train.batch_size.choices: List should have at least 1"),
    ("train.lr: 0.1\n", "train.lr must be a mapping"),
    ("- train.lr\n", "must map config keys"),
    ("train.lr: {type: float, low: [\n", "is not valid YAML"),
])
def test_a_bad_space_file_is_one_line_exit_2_and_runs_nothing(tmp_path, capsys, text, says):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    out = tmp_path / "sweep"
    r = run_zoo(capsys, "sweep", "lenet5", "--space", str(space), "--out", str(out), *TINY)
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: space file") and says in lines[0], lines
    assert not out.exists()


def test_a_grid_sampler_refuses_a_range_and_a_test_metric_is_refused(tmp_path, capsys, space):
    r = run_zoo(capsys, "sweep", "lenet5", "--space", str(space), "--out", str(tmp_path / "s"), "--sampler", "grid", *TINY)
    assert r.code == 2 and "--sampler grid needs every key as a grid or categorical; train.lr, train.weight_decay" in r.err
    r = run_zoo(capsys, "sweep", "lenet5", "--space", str(space), "--out", str(tmp_path / "s"), "--metric",
                "test_accuracy", *TINY)
    assert r.code == 2 and "the test split only reports" in r.err
    r = run_zoo(capsys, "sweep", "lenet5", "--space", str(space), "--out", str(tmp_path / "s"), "--resume", "x", *TINY)
    assert r.code == 2 and "zoo sweep takes no training --resume" in r.err
