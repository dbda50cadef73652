"""Hostile command lines, in-process: every one ends in exit 0 or 2, one line, no traceback, no stray file.

Each property drives the real `zoo` entry function (`zoo.cli.run`) from a fresh temporary
working directory and `$ZOO_HOME`. `ZOO_FUZZ_EXAMPLES` raises the number of cases per
property (CI runs the default; BENCHMARKS.md records a 10,000-case run).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.cli import run

EXAMPLES = int(os.environ.get("ZOO_FUZZ_EXAMPLES", "0")) or None
SETTINGS = dict(deadline=None, derandomize=EXAMPLES is None, suppress_health_check=list(HealthCheck),
                database=None)

REAL_NAMES = ["lenet5", "lenet5.mnist", "LeNet5", "lenet", "zoo:lenet5", "lenet5_classic", "nin", "zfnet"]
names = st.one_of(st.sampled_from(REAL_NAMES), st.text(min_size=0, max_size=40),
                  st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.:", max_size=300))
keys = st.one_of(st.sampled_from(["num_classes", "in_chans", "image_size", "dropout", "activation", "init",
                                  "model.num_classes", "train.lr", "lr", "train.epochs", "data.name",
                                  "train.optim.discriminator.lr", "train.batch_size", "a.b.c"]),
                 st.text(max_size=30), st.lists(st.text("abc_.", min_size=1, max_size=3), max_size=200).map(".".join))
values = st.one_of(st.text(max_size=40), st.integers().map(str), st.floats().map(str),
                   st.sampled_from(["", "[", "{a: *b}", "&a [*a]", "1" * 5000, "-1", "nan", "inf", "null", "[1, 2]",
                                    "!!python/object:os.system", "1e999", "{", "'unterminated"]))
YAML_BOMBS = [
    b"a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    b"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
    b"&a [*a]", b"a: &x {b: *x}", b"[" * 5000 + b"]" * 5000, b"{" * 3000, b"num_classes: " + b"9" * 100_000,
    b'{"num_classes": ' + b"9" * 100_000 + b"}", b"\xff\xfe\x00binary\x00", b"model:\n  config: [1]\n",
    b"train: {optim: {discriminator: {lr: -1}}}", b"- 1\n- 2\n", b"num_classes: 3\n", b"",
]
config_bytes = st.one_of(st.sampled_from(YAML_BOMBS), st.binary(max_size=300),
                         st.text(max_size=200).map(str.encode))
weight_bytes = st.one_of(st.binary(max_size=400),
                         st.builds(lambda n, rest: n.to_bytes(8, "little") + rest,
                                   st.integers(0, 2**64 - 1), st.binary(max_size=200)),
                         st.builds(lambda head, rest: len(head).to_bytes(8, "little") + head + rest,
                                   st.sampled_from([b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
                                                    b'{"w": {"dtype": "F32", "shape": [1000000000, 1000000000], "data_offsets": [0, 8]}}',
                                                    b'{"__metadata__": {"zoo_model": "zoo:lenet5", "zoo_config": "{"}}',
                                                    b'{"w": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}',
                                                    b"[]", b"{"]),
                                   st.binary(max_size=16)))
image_bytes = st.one_of(st.binary(max_size=300), st.sampled_from([
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"\xff" * 30, b"\xff\xd8\xff\xe0" + b"\x00" * 50, b"BM" + b"\x00" * 60]))


def zoo_in(tmp: Path, *args: str) -> tuple[int, str]:
    """Run `zoo ARGS` with tmp as working directory and $ZOO_HOME; return (exit code, stderr + stdout)."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_home = os.getcwd(), os.environ.get("ZOO_HOME")
    os.chdir(tmp)
    os.environ["ZOO_HOME"] = str(tmp / "home")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        os.chdir(old_cwd)
        if old_home is None:
            os.environ.pop("ZOO_HOME", None)
        else:
            os.environ["ZOO_HOME"] = old_home
    return code, err.getvalue() + out.getvalue()


def check(tmp: Path, *args: str) -> None:
    before = snapshot_outside(tmp)
    code, text = zoo_in(tmp, *args)
    assert code in (0, 2), f"zoo {' '.join(map(repr, args))[:300]} exited {code}: {text[-600:]}"
    assert "Traceback" not in text
    if code == 2:
        assert text.strip().splitlines()[-1].startswith("error: "), text[-600:]
    assert snapshot_outside(tmp) == before, "a file was written outside the temporary directory"


def snapshot_outside(tmp: Path) -> set[str]:
    """Names in the places a stray write would land: the test's working directory and the home cache."""
    places = [Path.cwd(), Path.home() / ".cache" / "zoo"]
    return {f"{p}/{c.name}" for p in places if p.is_dir() and p != tmp for c in p.iterdir()}


@settings(max_examples=EXAMPLES or 60, **SETTINGS)
@given(name=names, key=keys, value=values)
def test_names_and_set_assignments_exit_0_or_2(name, key, value):
    with tempfile.TemporaryDirectory() as tmp:
        check(Path(tmp), "info", name)
        check(Path(tmp), "build", "lenet5", "--json", "--set", f"{key}={value}")
        check(Path(tmp), "train", name, "--dry-run", "--set", f"{key}={value}")


@settings(max_examples=EXAMPLES or 40, **SETTINGS)
@given(content=config_bytes, suffix=st.sampled_from([".yaml", ".json", ".yml", ""]))
def test_config_files_of_any_bytes_exit_0_or_2(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"config{suffix}"
        path.write_bytes(content)
        check(Path(tmp), "build", "lenet5", "--config", str(path))
        check(Path(tmp), "train", "lenet5", "--dry-run", "--config", str(path))


@settings(max_examples=EXAMPLES or 40, **SETTINGS)
@given(content=weight_bytes, suffix=st.sampled_from([".safetensors", ".pth", ".bin", ""]))
def test_weight_files_of_any_bytes_exit_0_or_2(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"weights{suffix}"
        path.write_bytes(content)
        check(Path(tmp), "weights", "verify", str(path))
        check(Path(tmp), "export", "lenet5", "--weights", str(path), "--format", "safetensors")
        check(Path(tmp), "sample", "lenet5", "--weights", str(path))


@settings(max_examples=EXAMPLES or 25, **SETTINGS)
@given(content=image_bytes, suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ""]))
def test_image_files_of_any_bytes_exit_0_or_2(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"image{suffix}"
        path.write_bytes(content)
        check(Path(tmp), "predict", "lenet5.mnist", str(path))


@pytest.mark.parametrize("args", [
    ["build", "lenet5", "--config", "."], ["build", "lenet5", "--config", "missing.yaml"],
    ["data", "fetch", "x" * 5000], ["weights", "verify", "."], ["predict", "lenet5.mnist", "."],
    ["export", "lenet5", "--weights", "/", "--format", "onnx"], ["train", "lenet5", "--dry-run", "--config", "/dev/null"],
])
def test_directories_missing_paths_and_overlong_names_exit_2(tmp_path, args):
    check(tmp_path, *args)
