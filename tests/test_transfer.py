"""Transfer learning end to end: `--init-from` a zoo bundle, a torchvision or timm checkpoint file, or a timm
hf:// repo (offline, from a locally made checkpoint in a pre-populated Hugging Face cache); a fresh head where
the class count differs; discriminative learning rates (`train.optim.<submodule>`); and the two-phase recipe
(`train.unfreeze_at`), whose resume stays exact.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import zoo
from cli_runner import run_zoo

TINY = ["--data", "mnist", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=100"]
VGG = ["--set", "model.width=0.25", "--set", "model.hidden=16", "--set", "model.in_chans=3"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def comparable(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in records(run)]


def tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "bundle/model.safetensors")


def zoo_proc(home: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "ZOO_HOME": str(home), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def zoo_run(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    p = zoo_proc(home, *args, env=env)
    out, err = p.communicate(timeout=600)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A lenet5 bundle of 7 classes (seeded initial weights: what matters is that they are not the run's own)."""
    torch.manual_seed(7)
    return zoo.save_pretrained(zoo.create_model("lenet5", num_classes=7), tmp_path_factory.mktemp("src") / "lenet7")


def test_init_from_a_bundle_of_another_class_count_loads_the_rest_and_gives_a_fresh_head(source, mnist_home, tmp_path,
                                                                                         capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", *TINY, "--epochs", "1", "--init-from", str(source), "--freeze", "features",
                "--out", str(out))
    assert r.code == 0, r.err
    assert f"initialised from {source} (a fresh head: classifier.6.bias, classifier.6.weight)" in r.err
    src, got = load_file(source / "model.safetensors"), tensors(out)
    assert got["classifier.6.weight"].shape == (10, 84)
    assert all(torch.equal(got[k], src[k]) for k in src if k.startswith("features."))  # frozen: as loaded
    assert not torch.equal(got["classifier.1.weight"], src["classifier.1.weight"])  # loaded, then trained


# ---------------------------------------------------------------- discriminative learning rates


def _trainer(mnist_home, monkeypatch, tmp_path, sets):
    from zoo.engine.config import compose
    from zoo.engine.rundir import RunDir
    from zoo.engine.trainer import Trainer

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    config = compose("lenet5", sets=["max_train_examples=256", "max_eval_examples=64", "threads=1", *sets],
                     data_name="mnist")
    trainer = Trainer(config, RunDir(tmp_path / "unused"))
    trainer.setup()
    return trainer


def test_train_optim_of_a_submodule_gives_its_parameters_their_own_lr_in_the_module_optimizer(mnist_home, monkeypatch,
                                                                                             tmp_path):
    t = _trainer(mnist_home, monkeypatch, tmp_path, ["train.optim.features.lr=1e-4", "train.optim.classifier.lr=2e-2",
                                                      "train.optim.classifier.weight_decay=0.001"])
    groups = t.optimizers["model"].param_groups
    owner = {id(p): g for g in groups for p in g["params"]}
    named = dict(t.model.named_parameters())
    assert len(owner) == sum(len(g["params"]) for g in groups) == len(named)  # each parameter in one group
    for name, p in named.items():
        g = owner[id(p)]
        part = name.split(".")[0]
        assert (g["zoo_part"], g["initial_lr"]) == (part, {"features": 1e-4, "classifier": 2e-2}[part])
        decay = {"features": 0.05, "classifier": 0.001}[part]
        assert g["weight_decay"] == (0.0 if p.ndim == 1 else decay), name  # biases: no decay, as timm does


def test_without_submodule_entries_the_optimizer_is_timms_own(mnist_home, monkeypatch, tmp_path):
    from timm.optim import param_groups_weight_decay

    t = _trainer(mnist_home, monkeypatch, tmp_path, [])
    ours = [([id(p) for p in g["params"]], g["weight_decay"]) for g in t.optimizers["model"].param_groups]
    timms = [([id(p) for p in g["params"]], g["weight_decay"]) for g in param_groups_weight_decay(t.model, 0.05)]
    assert ours == timms


@pytest.mark.parametrize("sets, message", [
    (["train.optim.backbone.lr=1e-4"], "train.optim.backbone: no module or submodule of that name in this task "
                                       "(modules: model; submodules of model: features, classifier)"),
    (["train.optim.features.optimizer=sgd"], "train.optim.features.optimizer: a submodule's parameters are stepped "
                                             "by their module's optimizer; set train.optim.model.optimizer"),
])
def test_a_bad_submodule_entry_is_one_line(sets, message, mnist_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    r = run_zoo(capsys, "train", "lenet5", *TINY, "--epochs", "1", "--out", str(tmp_path / "run"),
                *[a for s in sets for a in ("--set", s)])
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- two phases


TWO_PHASE = [*TINY, "--epochs", "2", "--freeze", "features", "--set", "log_every=1", "--set", "checkpoint_every=3"]


@pytest.fixture(scope="module")
def phases(source, mnist_home, tmp_path_factory) -> tuple[Path, Path]:
    """The same run frozen throughout, and in two phases (features unfrozen after epoch 1)."""
    root = tmp_path_factory.mktemp("phases")
    frozen, two = root / "frozen", root / "two"
    for out, extra in ((frozen, []), (two, ["--set", "unfreeze_at=1"])):
        r = zoo_run(mnist_home, "train", "lenet5", *TWO_PHASE, "--init-from", str(source), "--out", str(out), *extra)
        assert r.returncode == 0, r.stderr
    assert "epoch 2: features unfrozen; every learning rate x 0.1" in r.stderr
    return frozen, two


def test_unfreeze_at_trains_the_head_alone_then_everything_at_a_tenth_of_the_lr(phases, source):
    frozen, two = phases
    a, b = comparable(frozen), comparable(two)
    first = [r for r in a if r["kind"] == "step" and r["epoch"] == 0]
    assert first and first == [r for r in b if r["kind"] == "step" and r["epoch"] == 0]  # phase 1: the frozen run
    later_a = [r for r in a if r["kind"] == "step" and r["epoch"] == 1]
    later_b = [r for r in b if r["kind"] == "step" and r["epoch"] == 1]
    assert [r["step"] for r in later_a] == [r["step"] for r in later_b]
    assert all(y["lr"] == pytest.approx(0.1 * x["lr"], rel=1e-12) for x, y in zip(later_a, later_b))
    src = load_file(source / "model.safetensors")
    assert torch.equal(tensors(frozen)["features.0.weight"], src["features.0.weight"])
    assert not torch.equal(tensors(two)["features.0.weight"], src["features.0.weight"])  # phase 2 trained them


def test_a_two_phase_run_killed_in_its_second_phase_resumes_bit_identical(phases, source, mnist_home, tmp_path):
    _, two = phases
    out = tmp_path / "run"
    p = zoo_proc(mnist_home, "train", "lenet5", *TWO_PHASE, "--init-from", str(source), "--out", str(out),
                 "--set", "unfreeze_at=1")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # 8 steps an epoch: kill in epoch 2, after the step-12 checkpoint
        if (out / "metrics.jsonl").is_file() and '"step": 13,' in (out / "metrics.jsonl").read_text():
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL and not (out / "bundle").exists()
    r = zoo_run(mnist_home, "train", "--resume", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "step 12" in r.stderr and "epoch 2: features unfrozen" in r.stderr
    a, b = tensors(two), tensors(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert comparable(out) == comparable(two)


# ---------------------------------------------------------------- torchvision and timm checkpoints


@pytest.fixture(scope="module")
def vgg_source(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A VGG-11 (a quarter wide, 32 px) in torchvision's layout, with ImageNet's 1000 classes."""
    torch.manual_seed(11)
    model = zoo.create_model("vgg11", num_classes=1000, image_size=32, hidden=16, width=0.25, in_chans=3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("tv") / "vgg11-tv.pth"
    torch.save(state, path)
    return path, state


def timm_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's VGG names: its first two classifier layers as convolutions (pre_logits), its last as head.fc."""
    renamed = {"classifier.0": "pre_logits.fc1", "classifier.3": "pre_logits.fc2", "classifier.6": "head.fc"}
    out = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in ("classifier.0", "classifier.3") and leaf == "weight":
            value = value[:, :, None, None]  # 1x1 convolutions over the 1x1 pooled map
        out[f"{renamed.get(prefix, prefix)}.{leaf}"] = value.contiguous()
    return out


def populate_hf_cache(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """The hub cache layout (models--org--name/{blobs,snapshots/<commit>,refs/main}), as huggingface_hub writes it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    storage = cache / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    (storage / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)


def _check_transfer(run: subprocess.CompletedProcess, out: Path, source: str, state: dict[str, torch.Tensor]) -> None:
    assert run.returncode == 0, run.stderr
    assert f"initialised from {source} (a fresh head: classifier.6.bias, classifier.6.weight)" in run.stderr
    got = tensors(out)
    assert got["classifier.6.weight"].shape == (10, 16)
    assert all(torch.equal(got[k], state[k]) for k in state if k.startswith("features."))


def test_vgg_fine_tunes_from_a_torchvision_checkpoint_file(vgg_source, mnist_home, tmp_path):
    path, state = vgg_source
    out = tmp_path / "run"
    r = zoo_run(mnist_home, "train", "vgg11", *TINY, *VGG, "--epochs", "1", "--init-from", str(path),
                "--freeze", "features", "--out", str(out))
    _check_transfer(r, out, str(path), state)


def test_vgg_fine_tunes_from_timm_weights_in_a_file_and_through_hf(vgg_source, mnist_home, tmp_path):
    from safetensors.torch import save

    _, state = vgg_source
    timm_file = tmp_path / "vgg11-timm.safetensors"
    save_file(timm_layout(state), timm_file)  # no zoo metadata: a foreign file
    out = tmp_path / "file"
    _check_transfer(zoo_run(mnist_home, "train", "vgg11", *TINY, *VGG, "--epochs", "1", "--init-from", str(timm_file),
                            "--freeze", "features", "--out", str(out)), out, str(timm_file), state)
    cache = tmp_path / "hf-cache"
    populate_hf_cache(cache, "timm/vgg11.tv_in1k", {
        "model.safetensors": save(timm_layout(state)),
        "config.json": json.dumps({"architecture": "vgg11", "num_classes": 1000, "num_features": 16}).encode()})
    out = tmp_path / "hf"
    r = zoo_run(mnist_home, "train", "vgg11", *TINY, *VGG, "--epochs", "1", "--init-from", "hf://timm/vgg11.tv_in1k",
                "--freeze", "features", "--out", str(out), env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    _check_transfer(r, out, "hf://timm/vgg11.tv_in1k", state)


def test_a_checkpoint_that_does_not_fit_is_one_line_naming_the_tensors(vgg_source, mnist_home, tmp_path, capsys,
                                                                       monkeypatch):
    path, _ = vgg_source
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    r = run_zoo(capsys, "train", "vgg11", *TINY, *VGG[:2], "--epochs", "1", "--init-from", str(path),
                "--out", str(tmp_path / "run"))  # a grey model (in_chans fitted to MNIST) from RGB weights
    *notes, last = r.err.strip().splitlines()  # (the notes say how the model was fitted to the data)
    assert r.code == 2 and last.startswith("error: ") and not any(n.startswith("error") for n in notes), r.err
    assert "does not fit zoo:vgg11: shape mismatch features.0.weight (weights [16, 3, 3, 3] vs model [16, 1, 3, 3])" \
        in last
    assert not (tmp_path / "run").exists()
