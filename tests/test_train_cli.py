"""`zoo train` end to end on real MNIST subsets: the run directory, resume after SIGKILL, DDP, bad input,
divergence, transfer.

Runs are small (2,048 training images, batches of 128, 2 epochs) so that the whole file stays
within its CI budget; what they check does not depend on size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_runner import run_zoo

SMALL = ["--epochs", "2", "--batch-size", "128", "--quiet", "--set", "max_train_examples=2048",
         "--set", "max_eval_examples=500"]


def zoo_proc(home: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "ZOO_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def zoo_run(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    p = zoo_proc(home, *args)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def comparable(run: Path) -> list[dict]:
    """metrics.jsonl without wall-clock fields."""
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in records(run)]


def snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def home(mnist_home) -> Path:
    return mnist_home


@pytest.fixture(scope="module")
def reference(home, tmp_path_factory) -> Path:
    """An uninterrupted single-process run, checkpointing every 5 steps, logging every step."""
    out = tmp_path_factory.mktemp("ref") / "run"
    r = zoo_run(home, "train", "lenet5", "--out", str(out), *SMALL, "--set", "checkpoint_every=5", "--set", "log_every=1")
    assert r.returncode == 0, r.stderr
    return out


def test_family_name_trains_its_default_member_and_writes_a_complete_run(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet", "--out", str(out), *SMALL)
    assert r.code == 0, r.err
    assert "'lenet' is a family; using its default member 'lenet5'" in r.err
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.safetensors", "best.safetensors", "last.safetensors",
                 "curves.png", "bundle/model.safetensors", "bundle/config.json", "bundle/README.md"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recs = records(out)
    kinds = [r["kind"] for r in recs]
    assert kinds.count("epoch") == 2 and kinds.count("eval") == 2 and kinds[-1] == "end"
    assert [r["step"] for r in recs if r["kind"] == "epoch"] == [16, 32]  # 2048 // 128 steps an epoch
    end = recs[-1]
    assert end["eval_accuracy"] > 0.6  # two short epochs on 2,048 digits; chance is 0.1
    assert recs[-2]["train_loss"] < [r for r in recs if r["kind"] == "epoch"][0]["train_loss"]

    import zoo
    from zoo.engine.config import RunConfig
    from zoo.engine.inference import load_eval_split, load_trained

    import yaml
    assert RunConfig.model_validate(yaml.safe_load((out / "config.yaml").read_text())).model.name == "zoo:lenet5"
    model = zoo.from_pretrained(out / "bundle")
    assert model.zoo_name == "zoo:lenet5"
    assert json.loads((out / "bundle/config.json").read_text())["metrics"]["test_accuracy"] == pytest.approx(end["eval_accuracy"])
    loaded = load_trained(str(out / "bundle"))
    data = load_eval_split(loaded, "test", 500)
    assert loaded.task.evaluate(data)["accuracy"] == pytest.approx(end["eval_accuracy"])


def test_resume_after_sigkill_mid_epoch_ends_bit_identical(home, reference, tmp_path):
    out = tmp_path / "run"
    p = zoo_proc(home, "train", "lenet5", "--out", str(out), *SMALL, "--set", "checkpoint_every=5", "--set", "log_every=1")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill in epoch 2, after the step-20 checkpoint
        if (out / "metrics.jsonl").is_file() and '"step": 22,' in (out / "metrics.jsonl").read_text():
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert not (out / "bundle").exists()
    r = zoo_run(home, "train", "--resume", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "step 20" in r.stderr
    a, b = load_file(reference / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert comparable(out) == comparable(reference)  # the replayed steps replaced the killed run's records


def test_two_gloo_processes_match_one_process(home, reference, tmp_path):
    out = tmp_path / "ddp"
    r = zoo_run(home, "train", "lenet5", "--out", str(out), *SMALL, "--set", "log_every=1", "--nproc-per-node", "2")
    assert r.returncode == 0, r.stderr
    a, b = load_file(reference / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    # Same global batches, gradients averaged by DDP: equal up to float summation order.
    # Tolerance: 32 AdamW steps on weights of size ~0.1 drift by a few 1e-6 here; 1e-4 is a failure.
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    ref_end, ddp_end = records(reference)[-1], records(out)[-1]
    assert abs(ref_end["eval_accuracy"] - ddp_end["eval_accuracy"]) <= 0.004  # at most 2 of 500 test images differ
    ref_epochs = [r for r in records(reference) if r["kind"] == "epoch"]
    ddp_epochs = [r for r in records(out) if r["kind"] == "epoch"]
    assert [round(r["train_loss"], 4) for r in ddp_epochs] == [round(r["train_loss"], 4) for r in ref_epochs]


def test_unknown_dataset_is_one_line_exit_2_and_no_run_dir(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    r = run_zoo(capsys, "train", "lenet5", "--data", "mnsit", "--out", str(tmp_path / "run"))
    assert (r.code, r.err.strip()) == (2, "error: no dataset 'mnsit'; did you mean: mnist, mnist-m, mnist-x4")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["not-a-run", "other-model", "changed-config", "edited-config", "existing-out"])
def test_bad_resume_is_one_line_exit_2_and_leaves_the_run_untouched(case, home, reference, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    if case == "not-a-run":
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain/notes.txt").write_text("hello")
        run = tmp_path / "plain"
        args, message = ["train", "--resume", str(run)], "is not a run directory (no config.yaml)"
    elif case == "other-model":
        args, message = ["train", "vgg11", "--resume", str(run)], "is a run of zoo:lenet5, not zoo:vgg11"
    elif case == "changed-config":
        args, message = ["train", "--resume", str(run), "--lr", "0.1"], "config disagrees with the checkpoint"
    elif case == "edited-config":
        (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("num_classes: 10", "num_classes: 12"))
        args, message = ["train", "--resume", str(run)], "checkpoint disagrees with the run's model config"
    else:
        args, message = ["train", "lenet5", "--out", str(run)], "already exists and is a run; use --resume"
    before = snapshot(run)
    r = run_zoo(capsys, *args)
    assert r.code == 2, r.err
    assert message in r.err and r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1
    assert snapshot(run) == before


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--optimizer", "sgd", "--lr", "1e4", "--batch-size", "64",
                "--quiet", "--set", "max_train_examples=1024", "--set", "max_eval_examples=100",
                "--set", "checkpoint_every=1", "--set", "warmup_epochs=0")
    assert r.code == 3
    assert "training diverged: loss is nan" in r.err and "last good checkpoint (step" in r.err
    from zoo.engine.checkpoint import read_checkpoint

    tensors, doc = read_checkpoint(out / "checkpoint.safetensors")
    assert doc["state"]["step"] >= 1
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("model."))
    assert not (out / "bundle").exists()


def _digit_folder(root: Path, home: Path, digits=(0, 1, 2), per_class=(96, 32)) -> Path:
    """An ImageFolder tree of real MNIST digits: root/{train,test}/<digit>/<n>.png."""
    from PIL import Image

    from zoo.data import load_dataset

    for split, n in zip(("train", "test"), per_class):
        ds = load_dataset("mnist", split, root=home / "data")
        for d in digits:
            target = root / split / f"digit{d}"
            target.mkdir(parents=True)
            for i, idx in enumerate((ds.labels == d).nonzero().flatten()[:n].tolist()):
                Image.fromarray(ds.images[idx, 0].numpy()).save(target / f"{i}.png")
    return root


def test_init_from_bundle_with_frozen_features_trains_a_fresh_head(home, reference, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    folder = _digit_folder(tmp_path / "digits", home)
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--data", str(folder), "--init-from", str(reference / "bundle"),
                "--freeze", "features", "--set", "model.num_classes=3", "--out", str(out), "--epochs", "2",
                "--batch-size", "32", "--quiet")
    assert r.code == 0, r.err
    assert "frozen: features" in r.err
    base, tuned = load_file(reference / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    features = [k for k in base if k.startswith("features.")]
    assert features and all(torch.equal(base[k], tuned[k]) for k in features)
    assert tuned["classifier.6.weight"].shape == (3, 84) and base["classifier.6.weight"].shape == (10, 84)
    assert not torch.equal(base["classifier.1.weight"], tuned["classifier.1.weight"])  # the rest of the head trained
    assert records(out)[-1]["eval_accuracy"] > 0.9  # 0/1/2 from pretrained digit features


def test_corrupt_data_files_are_one_line_exit_2_and_no_run_dir(home, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "home"
    shutil.copytree(home / "data", broken / "data")
    images = broken / "data/MNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])  # cut short, as by an interrupted copy
    monkeypatch.setenv("ZOO_HOME", str(broken))
    r = run_zoo(capsys, "train", "lenet5", "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 2 and r.err.startswith("error: mnist (train) files in") and "corrupt" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_resume_with_more_epochs_replans_the_schedule_and_trains_on(home, reference, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(home))
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    r = run_zoo(capsys, "train", "--resume", str(run), "--epochs", "3")
    assert r.code == 0, r.err
    recs = records(run)
    assert [r["epoch"] for r in recs if r["kind"] == "epoch"] == [0, 1, 2]
    new_steps = [r for r in recs if r["kind"] == "step" and r["step"] > 32]
    assert len(new_steps) == 16 and all(r["lr"] > 0 for r in new_steps[:-1])  # cosine over 3 epochs, not stuck at 2's end
    assert [r["step"] for r in recs if r["kind"] == "step"][:32] == list(range(1, 33))  # history kept
    assert "epochs: 3" in (run / "config.yaml").read_text()
