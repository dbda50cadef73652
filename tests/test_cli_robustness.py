"""The command line under mistakes: usage errors, names as typed, tags wherever weights are taken,
locked run directories, the listing index and shell completion. Driven through the real `zoo`
process where the behaviour is the process's (exit codes, imports, locks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_zoo
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

import zoo

ZOO_SCRIPT = Path(sys.executable).with_name("zoo")
ZOO = [str(ZOO_SCRIPT)] if ZOO_SCRIPT.exists() else [sys.executable, "-m", "zoo"]


def zoo_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ZOO, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize(("args", "line"), [
    (["train", "lenet5", "--batch-size", "x"], "error: --batch-size: 'x' is not an integer (see zoo train --help)"),
    (["train", "lenet5", "--lr=fast"], "error: --lr: 'fast' is not a number (see zoo train --help)"),
    (["build", "-1"], "error: no such option -1 (see zoo build --help)"),
    (["data", "nope"], "error: no command 'nope'; commands: fetch, list (see zoo data --help)"),
    (["sampel"], "error: no command 'sampel'; did you mean sample? (see zoo --help)"),
    (["info"], "error: missing argument NAME (see zoo info --help)"),
    (["list", "--jsn"], "error: no such option --jsn; did you mean --json? (see zoo list --help)"),
    (["train", "lenet5", "--epochs"], "error: --epochs: needs a value (see zoo train --help)"),
])
def test_usage_errors_exit_2_with_one_line_naming_the_option(args, line):
    result = zoo_process(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == line
    assert "Traceback" not in result.stderr + result.stdout


def test_usage_errors_of_click_itself_are_described_like_typers():
    """typer < 0.29 raises the `click` package's exceptions; they get the same one line."""
    click = pytest.importorskip("click")
    from zoo.cli import usage

    command = click.Command("train", params=[click.Option(["--batch-size"], type=int)])
    ctx = click.Context(command, info_name="zoo train")
    with pytest.raises(click.UsageError) as caught:
        command.parse_args(ctx, ["--batch-size", "x"])
    err = caught.value
    assert usage.is_usage_error(err)
    assert usage.describe(err, ["train", "--batch-size", "x"]) == "--batch-size: 'x' is not an integer (see zoo train --help)"


# ---------------------------------------------------------------- names as people type them


@pytest.mark.parametrize(("typed", "canonical"), [
    ("VGG16", "zoo:vgg16"), ("LeNet5", "zoo:lenet5"), ("lenet5-classic", "zoo:lenet5_classic"),
    ("ZOO:LENET5", "zoo:lenet5"), ("Vgg", "zoo:vgg16"), ("wgan-gp", "zoo:wgan_gp"),
])
def test_names_match_like_pip_names(typed, canonical):
    assert zoo.model_info(typed).qualified_name == canonical


def test_info_of_a_name_typed_differently_prints_the_canonical_name(capsys):
    result = run_zoo(capsys, "info", "VGG11-BN")
    assert result.code == 0 and result.out.startswith("vgg11_bn — ")


def test_pretrained_tags_match_like_pip_names():
    assert zoo.load("LeNet5.MNIST").zoo_name == "zoo:lenet5"


def test_plugin_names_that_differ_only_by_dash_or_case_collide(plugins):
    from zoo.registry import get_registry

    plugins.install("first", "firstpkg", manifest("my-plugin", model_entry("onenet", "firstpkg")), entry_name="a")
    plugins.install("second", "secondpkg", manifest("my_plugin", model_entry("twonet", "secondpkg")), entry_name="b")
    skipped = [p for p in get_registry().plugins if not p.ok]
    assert [(p.name, p.error) for p in skipped] == [("my_plugin", "plugin name 'my_plugin' is already taken")]
    assert zoo.model_info("MY_PLUGIN:onenet").qualified_name == "my-plugin:onenet"


def test_the_weights_code_does_not_import_the_api():
    code = "import sys, zoo.weights.bundle, zoo.weights.tags; print('zoo.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------- tags wherever weights are taken


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    import torch
    import torchvision.utils

    path = tmp_path / "digit.png"
    image = torch.zeros(1, 28, 28)
    image[:, 4:24, 13:16] = 1.0  # a vertical stroke: a one
    torchvision.utils.save_image(image, path)
    return path


def test_sample_export_and_predict_take_the_tag_in_the_name(capsys, tmp_path, image_file, monkeypatch, mnist_home):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.chdir(tmp_path)
    sampled = run_zoo(capsys, "sample", "lenet5.mnist", "--n", "4", "--out", "grid.png")
    assert sampled.code == 0 and (tmp_path / "grid.png").stat().st_size > 0
    exported = run_zoo(capsys, "export", "lenet5.mnist", "--format", "onnx")
    assert exported.code == 0 and (tmp_path / "lenet5_mnist.onnx").is_file()
    predicted = run_zoo(capsys, "predict", "lenet5.mnist", str(image_file), "--json")
    assert predicted.code == 0 and json.loads(predicted.out)[0]["top"][0]["label"].startswith("1")


def test_eval_takes_the_tag_in_the_name(capsys, tmp_path, monkeypatch, mnist_home):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.chdir(tmp_path)
    result = run_zoo(capsys, "eval", "lenet5.mnist", "--data", "mnist", "--n", "500", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["accuracy"] > 0.97


def test_weights_option_takes_a_tag_a_bundle_or_a_file(capsys, tmp_path, monkeypatch):
    from zoo.weights.tags import find_tag, locate

    monkeypatch.chdir(tmp_path)
    bundle = locate(find_tag("lenet5.mnist"))
    for i, weights in enumerate(["lenet5.mnist", str(bundle), str(bundle / "model.safetensors")]):
        result = run_zoo(capsys, "export", "lenet5", "--weights", weights, "--format", "safetensors", "--out", f"w{i}.safetensors")
        assert result.code == 0, result.err


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "lenet5"], "error: lenet5 needs weights: give a pretrained tag (lenet5.mnist) or --weights"),
    (["export", "lenet5.mnist", "--weights", "x"], "error: 'lenet5.mnist' names pretrained weights and --weights gives x: use one of them"),
    (["sample", "lenet5.imagenet"], "error: no pretrained tag 'imagenet' for lenet5; it has: lenet5.mnist"),
    (["sample"], "error: which weights? name a pretrained tag (e.g. lenet5.mnist) or give --weights"),
])
def test_missing_or_conflicting_weights_are_one_line(capsys, args, message):
    result = run_zoo(capsys, *args)
    assert result.code == 2 and result.err.strip() == message


# ---------------------------------------------------------------- run directories are locked


HOLD_LOCK = """
import sys, time
from pathlib import Path
from zoo.engine.rundir import RunLock
RunLock(Path(sys.argv[1])).acquire("zoo train lenet5 --out R")
print("held", flush=True)
time.sleep(120)
"""


def hold_lock(run: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_of_a_run_is_refused_naming_the_holder(tmp_path):
    (tmp_path / "R").mkdir()
    holder = hold_lock(tmp_path / "R")
    try:
        for args in (["train", "--resume", "R"], ["train", "lenet5", "--out", "R"]):
            result = zoo_process(*args, cwd=tmp_path)
            assert result.returncode == 2
            assert result.stderr.strip() == (f"error: R is being written by process {holder.pid} (zoo train lenet5 --out R, "
                                             f"since {json.loads((tmp_path / 'R' / '.lock').read_text())['since']}); "
                                             "wait for it to finish or stop it, then --resume")
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    from zoo.engine.rundir import RunLock

    holder = hold_lock(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock = RunLock(tmp_path).acquire("zoo train --resume R")
    try:
        assert lock.took_over["pid"] == holder.pid
    finally:
        lock.release()


def test_a_run_is_locked_while_it_trains_and_free_after(tmp_path, mnist_home):
    env = {**os.environ, "ZOO_HOME": str(mnist_home)}
    args = ["train", "lenet5", "--out", "R", "--quiet", "--epochs", "1", "--set", "train.max_train_examples=4096",
            "--set", "train.max_eval_examples=512", "--set", "train.batch_size=64"]
    first = subprocess.Popen([*ZOO, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "R" / ".lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = zoo_process("train", "--resume", "R", cwd=tmp_path, env=env)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    if second.returncode == 2:  # refused while the first trained (on a fast machine it may already be done)
        assert f"being written by process {first.pid}" in second.stderr
    assert lock.read_text() == ""  # a clean exit leaves no holder behind


# ---------------------------------------------------------------- listing index and completion


def modules_loaded_by(args: list[str], env: dict) -> set[str]:
    code = ("import sys\nfrom zoo.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('\\nMODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))" % args)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return set(out.rsplit("MODULES", 1)[1].split())


def test_list_from_a_current_index_imports_no_typer_rich_or_pydantic(tmp_path):
    env = {**os.environ, "ZOO_HOME": str(tmp_path)}
    first = modules_loaded_by(["list", "--json"], env)  # no index yet: typer validates and writes it
    assert "pydantic" in first
    for args in (["list"], ["list", "--json"], ["list", "vgg*", "--task", "classification", "--pretrained"]):
        assert not {"typer", "rich", "pydantic", "yaml", "torch"} & modules_loaded_by(args, env)


def test_list_output_is_the_same_from_the_index_and_from_the_registry(tmp_path):
    env = {**os.environ, "ZOO_HOME": str(tmp_path)}
    for args in (["list", "--json"], ["list"], ["list", "lenet*", "--pretrained"], ["list", "--family", "vgg"]):
        cold = zoo_process(*args, env={**env, "ZOO_HOME": str(tmp_path / "cold")})
        warm = zoo_process(*args, env=env)
        warm_again = zoo_process(*args, env=env)
        assert cold.stdout == warm.stdout == warm_again.stdout


def test_index_is_not_used_once_a_manifest_changes(plugins, tmp_path, capsys, monkeypatch):
    from zoo.index import load_index
    from zoo.registry import refresh

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    path = plugins.install("edit", "editpkg", manifest("edit", model_entry("before", "editpkg")))
    assert load_index() is not None and "before" in run_zoo(capsys, "list", "--json").out
    path.write_text(path.read_text().replace("before", "afterwards"))
    assert load_index() is None  # the manifest's size and time no longer match
    refresh()
    names = [r["name"] for r in json.loads(run_zoo(capsys, "list", "--json").out)]
    assert "afterwards" in names and "before" not in names


def test_index_is_not_used_once_a_distribution_is_installed(plugins, tmp_path, monkeypatch):
    from zoo.index import load_index

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    plugins.install("one", "onepkg", manifest("one", model_entry("onenet", "onepkg")))
    assert load_index() is not None
    (plugins.root / "another-1.0.dist-info").mkdir()
    assert load_index() is None


def test_list_extractors_names_each_extractor_with_its_weights(capsys):
    rows = {r["name"]: r for r in json.loads(run_zoo(capsys, "list", "--extractors", "--json").out)}
    assert rows["lenet5_mnist"]["weights"] == "lenet5.mnist" and rows["lenet5_mnist"]["num_features"] == 84
    assert rows["inception_v3"]["weights"] == "user-supplied"
    table = run_zoo(capsys, "list", "--extractors").out.splitlines()
    assert table[0].split()[:3] == ["name", "plugin", "kind"] and any(line.startswith("lenet5_mnist") for line in table)


def test_completion_offers_models_tags_families_datasets_and_formats():
    from zoo.cli import complete

    assert complete.model_names("lenet5") == ["lenet5", "lenet5_classic", "lenet5.mnist", "lenet5_classic.mnist"]
    assert "wgan_gp" in complete.model_names("WGAN-")
    assert complete.pretrained_tags("lenet5.") == ["lenet5.mnist"]
    assert complete.families("vg") == ["vgg"]
    assert complete.tasks("adv") == ["adversarial"]
    assert complete.datasets("f") == ["fashion-mnist"]
    assert complete.formats("") == ["safetensors", "onnx", "torchscript"]


def test_shell_completion_answers_without_importing_torch(tmp_path):
    env = {**os.environ, "ZOO_HOME": str(tmp_path), "_ZOO_COMPLETE": "complete_bash",
           "COMP_WORDS": "zoo export lenet5.mnist --format o", "COMP_CWORD": "4"}
    code = ("import sys\nfrom zoo.cli import main\ntry:\n    main([])\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["onnx", "TORCH", "False"]
