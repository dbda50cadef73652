"""No host read per step: between its log points and checkpoints a run reads no tensor value back (on a GPU each read
is a sync that stalls the pipeline), and the non-finite check keeps its guarantee without one: a NaN injected
mid-run still stops the run with exit 3 at the next boundary, naming the step where it went non-finite, and no
weights from that step on reach a checkpoint, the last/best weights or the bundle.

On the CPU a read is caught by a spy on the Tensor methods that hand a value to Python (`item`, `float()`,
`int()`, `bool()`, `tolist`, ...), called by anything (zoo, plugins, torch) while a step runs, the
optimizers' own step counters excepted: those live on the CPU on a GPU run too, so reading them is no sync. On
a GPU (`benchmarks/gpu_check.sh`) CUDA's sync debug mode is the spy instead.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import load_file

from cli_runner import run_zoo
from zoo.engine.config import compose
from zoo.engine.rundir import RunDir
from zoo.engine.trainer import DISPLAY_EVERY, Trainer
from zoo.registry import contribution_names

READS = ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__", "__complex__")
TINY = ["--batch-size", "32", "--quiet", "--set", "max_eval_examples=64", "--set", "threads=1",
        "--set", "warmup_epochs=0"]


def first_model_of(task: str) -> str | None:
    from zoo.api import resolve
    from zoo.testing import plugin_model_names

    return next((n for n in plugin_model_names() if resolve(n)[0].entry.task == task), None)


@pytest.fixture(autouse=True)
def _mnist(mnist_home, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))


class Reads:
    """Every read of a tensor's value while a run's epochs go, with whether it was inside a boundary (a log point
    or a checkpoint) and at which step."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.in_epoch = self.in_boundary = False
        self.seen: list[tuple[bool, int, str]] = []  # (inside a boundary, step, what)

    def record(self, tensor: torch.Tensor, what: str) -> None:
        if not self.in_epoch or self._is_step_counter(tensor):
            return
        self.seen.append((self.in_boundary, self.trainer.progress.step, what))

    def _is_step_counter(self, tensor: torch.Tensor) -> bool:
        return any(state.get("step") is tensor for opt in self.trainer.optimizers.values() for state in opt.state.values())

    def between_boundaries(self) -> list[tuple[int, str]]:
        return [(step, what) for inside, step, what in self.seen if not inside]

    def at_boundaries(self) -> list[tuple[int, str]]:
        return [(step, what) for inside, step, what in self.seen if inside]


@contextmanager
def flag(reads: Reads, name: str):
    setattr(reads, name, True)
    try:
        yield
    finally:
        setattr(reads, name, False)


def spy_on_reads(monkeypatch, reads: Reads) -> None:
    for name in READS:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            reads.record(self, _name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    for method, window in (("_train_epoch", "in_epoch"), ("_log_step", "in_boundary"), ("_checkpoint", "in_boundary")):
        original = getattr(Trainer, method)

        def wrapped(self, *args, _original=original, _window=window, **kwargs):
            with flag(reads, _window):
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(Trainer, method, wrapped)


def tiny_config(name: str, steps: int, precision: str):
    """The model at the contract's tiny size, `steps` steps of one epoch, a log point every DISPLAY_EVERY steps (so
    the progress bar never refreshes between them) and one checkpoint between."""
    from zoo.testing import _small_overrides, _tiny_batch_size

    small = {k: v for k, v in _small_overrides(name).items() if k != "num_classes"}  # the trainer reads the dataset
    size = _tiny_batch_size(compose(name, {"model": {"config": small}}).train.batch_size)
    # the hold-out takes a tenth of the training split: ask for enough that `steps` full batches remain
    n = int(steps * size / 0.9) + size
    return compose(name, {"model": {"config": small}, "data": {"val_size": 2 * size}, "train": {
        "epochs": 1, "batch_size": size, "max_train_examples": n + 2 * size, "max_eval_examples": size,
        "log_every": DISPLAY_EVERY, "checkpoint_every": 15, "threads": 1, "precision": precision}})


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("task", contribution_names("tasks"))
def test_steps_between_log_points_read_nothing_off_the_device(task, precision, tmp_path, monkeypatch):
    name = first_model_of(task)
    if name is None:
        pytest.skip(f"no registered model trains with task {task}")
    reads = Reads()
    spy_on_reads(monkeypatch, reads)
    trainer = Trainer(tiny_config(name, 22, precision), RunDir(tmp_path / "run"), quiet=True)
    reads.trainer = trainer
    trainer.fit()
    steps = trainer.progress.step
    assert steps >= 20, f"only {steps} steps: the test needs two log points inside the epoch"
    assert not reads.between_boundaries(), f"{name}: reads between log points: {reads.between_boundaries()[:5]}"
    boundaries = {step for step, _ in reads.at_boundaries()}
    assert {10, 20} <= boundaries, "the log points read the metrics (the spy sees reads where there are some)"


def test_a_nan_mid_run_stops_at_the_next_boundary_naming_its_step_and_no_later_weights_are_kept(tmp_path, capsys,
                                                                                               monkeypatch):
    """The loss of step 6 is NaN; checkpoints every 4 steps, log points every 10: step 8's checkpoint finds it."""
    from zoo.tasks.classification import ClassificationTask

    original, calls = ClassificationTask.loss, []

    def loss(self, output, y):
        calls.append(1)
        value = original(self, output, y)
        return value * float("nan") if len(calls) == 6 else value

    monkeypatch.setattr(ClassificationTask, "loss", loss)
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "2", *TINY, "--set", "max_train_examples=512",
                "--set", "checkpoint_every=4", "--set", "log_every=10")
    assert r.code == 3, r.err
    assert "training diverged: loss is nan at step 6 (epoch 1)" in r.err and "last good checkpoint (step 4)" in r.err
    from zoo.engine.checkpoint import read_checkpoint

    tensors, doc = read_checkpoint(out / "checkpoint.safetensors")
    assert doc["state"]["step"] == 4
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith(("model.", "optim.")))
    assert not (out / "bundle").exists() and not (out / "last.safetensors").exists()
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["step"] <= 4 for r in logged if r["kind"] == "step")


def test_a_nan_on_an_epochs_last_step_never_reaches_its_evaluation_or_last_weights(tmp_path, capsys, monkeypatch):
    """With no log point or checkpoint inside the epoch, the epoch's last step is the boundary; the epoch before
    it stays whole (its last weights and checkpoint), the diverged one writes nothing."""
    from zoo.tasks.classification import ClassificationTask

    original, calls = ClassificationTask.loss, []

    def loss(self, output, y):
        calls.append(1)
        value = original(self, output, y)
        return value * float("inf") if len(calls) == 14 else value  # 14 = the 2nd epoch's 7th step of 7

    monkeypatch.setattr(ClassificationTask, "loss", loss)
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "lenet5", "--out", str(out), "--epochs", "3", *TINY, "--set", "max_train_examples=224",
                "--set", "val_size=64", "--set", "checkpoint_every=0", "--set", "log_every=1000")
    assert r.code == 3, r.err
    assert "loss is inf at step 14 (epoch 2)" in r.err
    last = load_file(out / "last.safetensors")
    assert all(torch.isfinite(t).all() for t in last.values())
    from zoo.engine.checkpoint import read_checkpoint

    _, doc = read_checkpoint(out / "checkpoint.safetensors")
    assert doc["state"]["step"] == 7 and doc["state"]["epoch"] == 1
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in evals if r["kind"] == "eval"] == [0]


def test_two_gloo_processes_that_diverge_stop_together_with_exit_3(tmp_path):
    """The processes stop at the same boundary with exit 3 (torchrun, which launches them, then exits 1). torchrun
    stops the other worker as soon as the first one exits, so under load only one may get to say so itself."""
    import os
    import re
    import subprocess
    import sys

    out = tmp_path / "run"
    env = {**os.environ}
    r = subprocess.run([sys.executable, "-m", "zoo", "train", "lenet5", "--out", str(out), "--nproc-per-node", "2",
                        "--optimizer", "sgd", "--lr", "1e4", "--epochs", "1", *TINY, "--set", "max_train_examples=640",
                        "--set", "checkpoint_every=2", "--set", "log_every=4", "--set", "device=cpu"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and len(re.findall(r"exitcode\s*:\s*3\b", r.stderr)) >= 1, r.stderr[-2000:]
    steps = re.findall(r"training diverged: loss is nan at step (\d+)", r.stderr)
    assert 1 <= len(steps) <= 2 and len(set(steps)) == 1, "every process that reports names the same first step"
    assert not (out / "bundle").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs it)")
@pytest.mark.parametrize("name", ["lenet5", "dcgan"])
def test_on_a_gpu_steps_between_log_points_make_no_cuda_sync(name, tmp_path, monkeypatch):
    """CUDA's own spy: sync debug mode 'error' while a step runs, off at log points and checkpoints."""
    windows = {"_train_epoch": 2, "_log_step": 0, "_checkpoint": 0}
    for method, mode in windows.items():
        original = getattr(Trainer, method)

        def wrapped(self, *args, _original=original, _mode=mode, **kwargs):
            before = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode(_mode)
            try:
                return _original(self, *args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode(before)

        monkeypatch.setattr(Trainer, method, wrapped)
    config = tiny_config(name, 22, "bf16")
    config = config.model_copy(update={"train": config.train.model_copy(update={"device": "cuda"})})
    trainer = Trainer(config, RunDir(tmp_path / "run"), quiet=True)
    trainer.fit()
    assert trainer.progress.step >= 20
