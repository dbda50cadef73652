"""No run loses its bundle, no kill leaves a half-made run, no float is NaN or infinite, no value is a section.

- Without matplotlib (an extra, `zoo[plots]`) a run writes its bundle and warns once, naming the extra.
- A new run directory appears whole (config.yaml and its held lock, renamed into place); a kill storm on
  `zoo train` leaves, every time, no directory, a run that `--resume` finishes bit-identical to an
  uninterrupted one, or a directory of scratch that `--out` reuses.
- Every float field of every config refuses NaN and the infinities; `--set a.b=v` where `a` holds one
  value is one line naming `a`; fuzzed command lines of both kinds never exit 1.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import types
import typing
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from cli_runner import run_zoo
from test_cli_fuzz import EXAMPLES, SETTINGS, check

TINY = ["--epochs", "2", "--batch-size", "64", "--quiet", "--set", "threads=1", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=200", "--set", "checkpoint_every=2"]


def zoo_proc(home: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "ZOO_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def zoo_run(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    p = zoo_proc(home, *args, cwd=cwd)
    out, err = p.communicate(timeout=600)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def comparable(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in rows]


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(a / "bundle/model.safetensors"), load_file(b / "bundle/model.safetensors")
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


# ---------------------------------------------------------------- an optional package missing


@pytest.mark.parametrize("model, extra", [("lenet5", []), ("dcgan", ["--set", "model.width=8"])])
def test_without_matplotlib_a_run_writes_its_bundle_and_warns_once_naming_the_extra(model, extra, mnist_home,
                                                                                    tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    # torchmetrics (FID) decides whether matplotlib exists from package metadata, which a sys.modules block
    # does not hide; where matplotlib is truly absent it knows. Imported first, it has decided already.
    import torchmetrics.image.fid  # noqa: F401

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` now raises ImportError
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", model, "--data", "mnist", "--out", str(out), *TINY, *extra)
    assert r.code == 0, r.err
    for name in ("model.safetensors", "config.json", "README.md"):
        assert (out / "bundle" / name).is_file(), name
    assert not (out / "curves.png").exists()
    warnings = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert warnings == ['warning: curves.png not drawn: matplotlib is not installed (pip install "zoo[plots]"); '
                        "training and the bundle do not need it"]


# ---------------------------------------------------------------- the run directory


def test_a_new_run_directory_appears_with_its_config_and_its_lock_held(tmp_path):
    from zoo.engine.rundir import RunDir, RunDirError, RunLock

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / f".R.tmp-{int(dead.stdout)}"  # a create() killed before its rename
    abandoned.mkdir()
    (abandoned / "config.yaml").write_text("x")
    run = RunDir(tmp_path / "R")
    lock = run.create("model: {}\n", "zoo train lenet5 --out R")
    try:
        assert (run / "config.yaml").read_text() == "model: {}\n" and run.is_run()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]  # no temp directory, the abandoned one swept
        with pytest.raises(RunDirError, match=f"is being written by process {os.getpid()}"):
            RunLock(run.path).acquire("zoo train --resume R")
        with pytest.raises(RunDirError, match="appeared while this run was starting"):
            RunDir(tmp_path / "R").create("model: {}\n", "another")
    finally:
        lock.release()
    RunLock(run.path).acquire("zoo train --resume R").release()  # free once released
    assert (run / "config.yaml").is_file()


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_the_start_bit_identical(mnist_home, tmp_path,
                                                                                       capsys, monkeypatch):
    from zoo.engine.config import compose, to_yaml
    from zoo.engine.rundir import RunDir

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    whole = tmp_path / "whole"
    assert run_zoo(capsys, "train", "lenet5", "--data", "mnist", "--out", str(whole), *TINY).code == 0
    sets = [a for a in TINY if "=" in a]  # the --set values of TINY
    config = compose("lenet5", flags={"epochs": 2, "batch_size": 64}, sets=sets, data_name="mnist")
    cut = RunDir(tmp_path / "cut")
    cut.create(to_yaml(config), "zoo train lenet5").release()  # what a kill right after the directory appeared leaves
    r = run_zoo(capsys, "train", "--resume", str(cut.path), "--quiet")
    assert r.code == 0, r.err
    assert "from the start (it stopped before its first checkpoint)" in r.err
    assert same_weights(whole, cut.path) and comparable(cut.path) == comparable(whole)


def test_a_kill_storm_leaves_no_directory_a_resumable_run_or_a_reusable_one(mnist_home, tmp_path):
    args = ["train", "lenet5", "--data", "mnist", *TINY]
    reference = tmp_path / "reference"
    start = time.monotonic()
    r = zoo_run(mnist_home, *args, "--out", str(reference))
    length = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    rng = random.Random(21)
    moments = [length * (i + rng.random()) / 6 for i in range(6)]  # one random moment in each sixth of a run
    outcomes = []
    for i, moment in enumerate(moments):
        out = tmp_path / f"killed-{i}"
        p = zoo_proc(mnist_home, *args, "--out", str(out))
        time.sleep(moment)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        visible = sorted(q.name for q in tmp_path.iterdir() if not q.name.startswith("."))
        assert set(visible) <= {"reference", *(f"killed-{j}" for j in range(i + 1))}
        if not out.exists():
            outcomes.append("absent")
            continue
        if (out / "config.yaml").is_file():
            outcomes.append("resumed")
            again = zoo_run(mnist_home, "train", "--resume", str(out), "--quiet")
        else:
            assert {q.name for q in out.iterdir()} <= {".lock"} | {q.name for q in out.glob(".*.tmp-*")}
            outcomes.append("reused")
            again = zoo_run(mnist_home, *args, "--out", str(out))
        assert again.returncode == 0, f"kill {i} at {moment:.2f}s of {length:.2f}s ({outcomes[-1]}): {again.stderr}"
        assert same_weights(reference, out), f"kill {i} at {moment:.2f}s"
    assert "resumed" in outcomes, outcomes  # the storm reached runs in flight, not only process starts


# ---------------------------------------------------------------- floats and sections


def _float_fields(cls) -> list[str]:
    def has_float(ann) -> bool:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            return has_float(typing.get_args(ann)[0])
        if origin in (typing.Union, types.UnionType):
            return any(has_float(a) for a in typing.get_args(ann))
        return ann is float

    return [name for name, field in cls.model_fields.items() if has_float(field.annotation)]


def _all_config_classes():
    import zoo
    from zoo.building import config_class
    from zoo.data import DataConfig
    from zoo.engine.config import ModuleOptim, TrainConfig
    from zoo.names import resolve

    models = {config_class(resolve(name)[0]) for name in zoo.list_models()}
    return [TrainConfig, DataConfig, ModuleOptim, *sorted(models, key=lambda c: c.__name__)]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_every_float_field_of_every_config_refuses_nan_and_the_infinities(value):
    from zoo.config import ConfigError, validate_config

    checked, finite = 0, 0
    for cls in _all_config_classes():
        for name in _float_fields(cls):
            with pytest.raises(ConfigError, match=name) as refused:  # a family's own check may refuse it first
                validate_config(cls, {name: value}, cls.__name__)
            checked += 1
            finite += "finite number" in str(refused.value)
    assert checked > 30  # the sweep found the fields (lr, momentum, weight_decay, dropout, ...)
    assert finite >= checked - 3  # and all but a few (wgan's gradient_penalty without critic=gp) for being non-finite


@pytest.mark.parametrize("args", [
    ["--lr", "inf"], ["--lr", "nan"], ["--lr", "-inf"], ["--weight-decay", "nan"], ["--set", "train.momentum=.inf"],
    ["--set", "momentum=nan"], ["--set", "model.dropout=.nan"], ["--set", "train.optim.model.lr=inf"],
    ["--set", "train.warmup_epochs=.inf"], ["--grad-clip", "inf"], ["--momentum", "inf"], ["--momentum", "nan"],
])
def test_non_finite_floats_on_the_command_line_are_refused_before_training(args, capsys, tmp_path):
    r = run_zoo(capsys, "train", "lenet5", "--dry-run", *args)
    assert r.code == 2 and "input should be a finite number" in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_momentum_flag_sets_the_train_momentum(capsys):
    r = run_zoo(capsys, "train", "lenet5", "--dry-run", "--optimizer", "momentum", "--momentum", "0.5")
    assert r.code == 0 and "momentum: 0.5" in r.out, r.err


def _task_option_float_fields():
    from zoo.registry import contribution_names
    from zoo.tasks import task_class

    found = []
    for task in contribution_names("tasks"):
        cls = task_class(task)
        for kind in ("SampleOptions", "EvalOptions"):
            schema = getattr(cls, kind, None)
            if schema is not None:
                found += [(task, kind, schema, name) for name in _float_fields(schema)]
    return found


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_every_float_option_of_every_task_refuses_nan_and_the_infinities(value):
    from zoo.tasks.options import OptionError, validate_options

    fields = _task_option_float_fields()
    assert any(name == "truncation" for *_, name in fields)  # the sweep found the tasks' float options
    for task, kind, schema, name in fields:
        with pytest.raises(OptionError, match="finite number"):
            validate_options(schema, {name: value}, task)


@pytest.mark.parametrize("command, message", [
    (["build", "stacked_ae", "--set", "variant.x=1"], "'variant' is a value (one of 'ae', 'stacked_ae', 'ae_2d', "
                                                      "'conv_ae', 'denoising_ae'), not a section: variant.x cannot be set"),
    (["build", "stacked_ae", "--set", "variant=[1]"], "'variant' is a value"),
    (["build", "stacked_ae", "--set", "code_size.x=1", "--set", "num_classes.x=1"], "'code_size' is a value (int)"),
    (["build", "lenet5", "--set", "num_classes.x=1"], "'num_classes' is a value (int), not a section"),
    (["train", "lenet5", "--dry-run", "--set", "train.lr.x=1"], "'lr' is a value (float), not a section"),
    (["train", "lenet5", "--dry-run", "--set", "train.optim.features.lr.x=1"], "'optim.features.lr' is a value"),
    (["train", "vae", "--dry-run", "--set", "variant.name=vae"], "'variant' is a value"),
])
def test_a_section_assignment_on_a_field_of_one_value_is_one_line_naming_the_field(command, message, capsys):
    r = run_zoo(capsys, *command)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


MODELS = ["lenet5", "stacked_ae", "vae", "dcgan", "lenet5_classic", "cgan"]
NON_FINITE = ["inf", "-inf", "nan", ".inf", "-.inf", ".nan", "NaN", "1e999", "-1e999", "Infinity"]


def _keys() -> list[str]:
    keys = []
    for cls in _all_config_classes():
        for name in cls.model_fields:
            keys += [name, f"{name}.x", f"{name}.x.y", f"model.{name}.x", f"train.{name}.x", f"data.{name}.x"]
    return sorted(set(keys))


values = st.one_of(st.sampled_from(NON_FINITE), st.sampled_from(["[1]", "{a: 1}", "[[1]]", "!!set {a}", "1", "x",
                                                                 "null", "[inf]", "{lr: nan}"]),
                   st.floats().map(str))


@settings(max_examples=EXAMPLES or 60, **SETTINGS)
@given(model=st.sampled_from(MODELS), key=st.sampled_from(_keys()), value=values,
       flag=st.sampled_from(["--lr", "--weight-decay", "--grad-clip"]), number=st.sampled_from(NON_FINITE + ["0.1"]))
def test_fuzzed_float_and_section_command_lines_never_exit_1(model, key, value, flag, number):
    with tempfile.TemporaryDirectory() as tmp:
        check(Path(tmp), "build", model, "--json", "--set", f"{key}={value}")
        check(Path(tmp), "train", model, "--dry-run", "--set", f"{key}={value}", flag, number)
