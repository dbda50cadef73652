"""The workflow in Python: zoo.train -> Run, zoo.evaluate -> the task's report, zoo.sample -> images; the same
options and refusals as the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from cli_runner import run_zoo

import zoo
from zoo.errors import ZooError

TINY = dict(epochs=1, batch_size=64, max_train_examples=640, max_eval_examples=200, log_every=5)


@pytest.fixture(scope="module")
def run(mnist_home, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_HOME", str(mnist_home))
        yield zoo.train("lenet5", data="mnist", out=tmp_path_factory.mktemp("api") / "run", **TINY)


def test_train_returns_the_run_its_bundle_and_the_final_evaluation(run):
    assert (run.bundle / "model.safetensors").is_file() and (run.dir / "config.yaml").is_file()
    end = run.metrics[-1]
    assert end["kind"] == "end" and end["eval_accuracy"] == run.final["accuracy"]
    assert run.final["accuracy"] > 0.3  # 10 steps of the LeNet-5 recipe on real digits (chance: 0.1)
    assert [r["step"] for r in run.metrics if r["kind"] == "step"] == [5, 10]
    assert run.config.train.max_train_examples == 640
    card = (run.bundle / "README.md").read_text()
    assert "zoo train lenet5 --data mnist --set epochs=1 --set batch_size=64" in card  # reproducible as a command


def test_resume_through_the_api_continues_to_more_epochs(run, mnist_home, monkeypatch, tmp_path):
    import shutil

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    copy = tmp_path / "resumed"
    shutil.copytree(run.dir, copy)
    again = zoo.train("lenet5", resume=copy, **{**TINY, "epochs": 2})
    epochs = [r["epoch"] for r in again.metrics if r["kind"] == "epoch"]
    assert epochs == [0, 1]
    with pytest.raises(ZooError, match="only --epochs may change"):
        zoo.train("lenet5", resume=copy, **{**TINY, "epochs": 3, "lr": 0.1})


def test_evaluate_is_what_zoo_eval_json_prints(run, mnist_home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.chdir(tmp_path)
    doc = zoo.evaluate(run.bundle, n=300)
    assert doc["examples"] == 300 and doc["split"] == "test"
    r = run_zoo(capsys, "eval", "--weights", str(run.bundle), "--n", "300", "--json")
    assert r.code == 0, r.err
    cli = json.loads(r.out)
    assert {k: cli[k] for k in doc} == json.loads(json.dumps(doc))


def test_evaluate_refuses_an_option_of_another_task(run):
    with pytest.raises(ZooError, match=r"option --iw-samples does not apply to zoo:lenet5 \(task classification\); "
                                       r"its options: --n, --out, --seed, --split"):
        zoo.evaluate(run.bundle, iw_samples=10)


def test_sample_draws_the_label_asked_for_deterministically(mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    images = zoo.sample("cgan.mnist", 32, condition=7, seed=1)
    assert images.shape == (32, 1, 32, 32) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, zoo.sample("cgan.mnist", 32, condition=7, seed=1))
    reader = zoo.load("lenet5.mnist").eval()
    from zoo.data import prepare_batch

    with torch.no_grad():
        guess = reader(prepare_batch((images * 255).round().to(torch.uint8), 32, 1, (0.1307,), (0.3081,))).argmax(1)
    assert (guess == 7).float().mean() >= 0.8


def test_sample_takes_the_tasks_options_and_refuses_others():
    plain = zoo.sample("dcgan.mnist", 8, seed=0)
    typical = zoo.sample("dcgan.mnist", 8, seed=0, truncation=0.5)
    assert plain.shape == typical.shape == (8, 1, 32, 32) and not torch.equal(plain, typical)
    with pytest.raises(ZooError, match=r"option --steps does not apply to zoo:dcgan \(task adversarial\)"):
        zoo.sample("dcgan.mnist", 8, steps=50)
    with pytest.raises(ZooError, match="--truncation: Input should be greater than 0"):
        zoo.sample("dcgan.mnist", 8, truncation=0)
