"""README "Writing a plugin", executed: the package is assembled from the README's own code blocks (each that
starts with a `# mypkg/...` line), installed as a third-party plugin (a dist-info with a `zoo.plugins` entry
point), and every model it declares trains, samples, evaluates and exports through the real `zoo` commands; its
task, objective and dataset are used as any built-in one is."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_zoo

from zoo.registry import refresh

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = ["--epochs", "1", "--set", "batch_size=64", "--set", "max_train_examples=512", "--set", "max_eval_examples=256"]


def readme_files() -> dict[str, str]:
    """'mypkg/x.py' -> source, for every fenced block of the plugin section that opens with '# mypkg/...'."""
    text = README.read_text()
    section = text[text.index("## Writing a plugin"):text.index("## Layout")]
    files = {}
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S):
        first, _, rest = body.partition("\n")
        if first.startswith("# mypkg/"):
            files[first[2:].strip()] = rest
    return files


@pytest.fixture(scope="module")
def site(tmp_path_factory, mnist_home):
    root = tmp_path_factory.mktemp("readme-site")
    for path, source in readme_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(source)
    (root / "mypkg" / "__init__.py").write_text("")
    info = root / "mypkg-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[zoo.plugins]\nmine = mypkg:zoo.yaml\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(root))
        mp.setenv("ZOO_HOME", str(mnist_home))
        refresh()
        yield root
    for name in [m for m in sys.modules if m.split(".")[0] == "mypkg"]:
        del sys.modules[name]
    refresh()


def test_readme_holds_every_file_of_the_plugin():
    assert set(readme_files()) == {"mypkg/zoo.yaml", "mypkg/tinycnn.py", "mypkg/tinyvae.py", "mypkg/tinygan.py",
                                   "mypkg/pearson.py", "mypkg/inpainting.py", "mypkg/stripes.py"}


def test_its_task_objective_and_dataset_list_beside_the_built_in_ones(site, capsys):
    for kind, name in (("--tasks", "inpainting"), ("--objectives", "pearson"), ("--datasets", "stripes")):
        r = run_zoo(capsys, "list", kind, "--json")
        assert r.code == 0, r.err
        rows = {row["name"]: row for row in json.loads(r.out)}
        assert rows[name]["plugin"] == "mine"
    r = run_zoo(capsys, "plugins", "--json")
    mine = next(row for row in json.loads(r.out) if row["plugin"] == "mine")
    assert mine["status"] == "ok" and mine["models"] == 4


def test_the_classifier_learns_the_readme_dataset(site, tmp_path, capsys):
    out = tmp_path / "cnn"
    r = run_zoo(capsys, "train", "tinycnn", "--data", "stripes", "--epochs", "4", "--batch-size", "32",
                "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    end = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["eval_accuracy"] >= 0.9  # stripes are easy: the data, the model and the task all work
    r = run_zoo(capsys, "eval", "--weights", str(out / "bundle"), "--json", "--out", str(tmp_path / "cm.png"))
    assert r.code == 0 and json.loads(r.out)["per_class_accuracy"].keys() == {"horizontal", "vertical"}


@pytest.mark.parametrize(("model", "sample", "evaluate"), [
    ("tinyvae", ["--n", "16"], ["--n", "200", "--iw-samples", "10"]),
    ("tinygan", ["--n", "16", "--truncation", "0.8"], ["--metrics", "fid,kid", "--n", "200"]),
    ("tinyinpainter", ["--n", "8", "--hole", "12"], ["--n", "200"]),
])
def test_each_generative_model_trains_samples_evaluates_and_exports(site, tmp_path, capsys, model, sample, evaluate):
    out = tmp_path / model
    r = run_zoo(capsys, "train", model, "--data", "mnist", *TINY, "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    bundle = str(out / "bundle")
    r = run_zoo(capsys, "sample", "--weights", bundle, *sample, "--out", str(tmp_path / "grid.png"))
    assert r.code == 0, r.err
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    r = run_zoo(capsys, "eval", "--weights", bundle, *evaluate, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert all(v == v for v in doc.values() if isinstance(v, float))  # no NaN anywhere
    r = run_zoo(capsys, "export", "--weights", bundle, "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert r.code == 0, r.err


def test_the_gan_trains_on_the_readme_objective(site, tmp_path, capsys):
    r = run_zoo(capsys, "train", "tinygan", "--data", "mnist", "--dry-run")
    assert r.code == 0 and "objective: pearson" in r.out
    r = run_zoo(capsys, "train", "tinygan", "--data", "mnist", "--set", "model.objective=pearsn", "--dry-run")
    assert r.code == 2 and "unknown objective 'pearsn'; did you mean: pearson" in r.err


def test_the_readme_contract_passes_for_the_plugin(site, tmp_path):
    tests = tmp_path / "test_mine.py"
    tests.write_text(re.search(r"```python\n(from zoo.testing import ModelContract.*?)```", README.read_text(), re.S)[1])
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
