"""examples/zoo-diffusion-plugin, installed by pip, works end to end through its own manifest: the open core's proof.

The plugin brings a model (ddpm) and its own task (denoising-diffusion); the core names neither.
It is installed into a directory of its own (pip --target) and reached through PYTHONPATH, so the
registry of this test process, and of the other tests, never sees it. Everything runs at tiny
size (8 channels, T = 20 or 50, a few hundred real MNIST images from the session's `mnist_home`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "zoo-diffusion-plugin"
TINY = ["--set", "threads=1", "--set", "batch_size=32", "--set", "max_train_examples=512",
        "--set", "max_eval_examples=200", "--set", "model.channels=8", "--set", "model.timesteps=50"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The plugin installed by pip (a real wheel build and dist-info) into a directory of its own."""
    target = tmp_path_factory.mktemp("diffusion-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True)
    return target


@pytest.fixture(scope="module")
def env(site, mnist_home) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(mnist_home), "OMP_NUM_THREADS": "1"}


def zoo_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def run(env, tmp_path_factory) -> Path:
    """`zoo train ddpm --data mnist` for one tiny epoch (16 steps)."""
    out = tmp_path_factory.mktemp("ddpm-run") / "run"
    done = zoo_cli(env, "train", "ddpm", "--data", "mnist", "--epochs", "1", "--out", str(out), "--quiet", *TINY)
    assert done.returncode == 0, done.stderr
    return out


def test_no_line_of_the_core_names_the_plugin_its_task_or_its_model():
    hits = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
            for path in sorted((ROOT / "zoo").rglob("*")) if path.is_file() and path.suffix in (".py", ".yaml", ".md")
            for i, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"ddpm|diffusion", line, re.I)]
    assert not hits, "\n".join(hits)


def test_installed_plugin_lists_its_own_task_and_model(env):
    tasks = json.loads(zoo_cli(env, "list", "--tasks", "--json").stdout)
    mine = [t for t in tasks if t["name"] == "denoising-diffusion"]
    assert mine == [{"name": "denoising-diffusion", "plugin": "diffusion", "code": "zoo_diffusion.task:DiffusionTask",
                     "summary": mine[0]["summary"], "models": 1}]
    listed = zoo_cli(env, "list", "--family", "ddpm")
    assert listed.returncode == 0 and re.search(r"ddpm\s+denoising-diffusion\s+ddpm\s+diffusion", listed.stdout)


def test_zoo_train_lowers_the_epsilon_loss_and_writes_bundle_and_sample_grid(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in records if r["kind"] == "eval"]
    assert len(evals) == 1 and evals[0] < 0.9  # the untrained denoiser (zero-initialised head) scores 1.0
    assert (run / "bundle" / "model.safetensors").is_file() and (run / "samples" / "epoch_001.png").is_file()
    card = (run / "bundle" / "README.md").read_text()
    assert "zoo train ddpm --data mnist" in card and "EMA of the weights" in card


def test_zoo_sample_writes_a_grid_of_ddim_samples(run, env, tmp_path):
    from PIL import Image

    done = zoo_cli(env, "sample", "--weights", str(run / "bundle"), "--n", "16", "--steps", "5",
                   "--out", str(tmp_path / "grid.png"))
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "grid.png").size == (4 * 30 + 2, 4 * 30 + 2)  # 4 x 4 digits, 2 px gaps


@pytest.mark.parametrize("args, message", [
    (["--label", "3"], "option --label does not apply to diffusion:ddpm"),
    (["--sampler", "ancestral", "--steps", "5"], "ancestral sampling takes all T=50 steps"),
])
def test_zoo_sample_refuses_what_the_task_does_not_take_in_one_line(run, env, tmp_path, args, message):
    done = zoo_cli(env, "sample", "--weights", str(run / "bundle"), "--out", str(tmp_path / "x.png"), *args)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_zoo_eval_scores_ddim_samples_with_fid_and_kid(run, env):
    done = zoo_cli(env, "eval", "--weights", str(run / "bundle"), "--metrics", "fid,kid", "--n", "50", "--steps", "3",
                   "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["sampler"] == "DDIM (eta 0), 3 steps" and doc["n"] == 50 and doc["reference"] == "mnist:test"
    assert doc["fid"] > 0 and "mean" in doc["kid"] and doc["extractor"]["name"] == "lenet5_mnist"


def test_zoo_export_writes_the_denoiser_from_noisy_image_and_timestep_to_noise(run, env, tmp_path):
    import numpy as np
    import onnxruntime as ort

    done = zoo_cli(env, "export", "--weights", str(run / "bundle"), "--format", "onnx",
                   "--out", str(tmp_path / "d.onnx"))
    assert done.returncode == 0, done.stderr
    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noisy_image", "timestep"]
    noisy = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    early, late = (session.run(None, {"noisy_image": noisy, "timestep": np.full(3, t, np.int64)})[0] for t in (0, 49))
    assert early.shape == (3, 1, 28, 28) and not np.allclose(early, late)  # the timestep is an input, not a constant


def test_python_api_resumes_the_cli_run_bit_identically_then_samples_and_evaluates(run, env, tmp_path):
    """zoo.train for two epochs equals the CLI's one-epoch run resumed by zoo.train to two: t, the noise and the EMA's
    warm-up count are all in the checkpoint. Then zoo.sample (seeded, both samplers) and zoo.evaluate."""
    import shutil

    shutil.copytree(run, tmp_path / "parts")
    sets = dict(a.split("=", 1) for a in TINY[1::2])
    kwargs = {k: int(v) for k, v in sets.items() if not k.startswith("model.")}
    model = {k.removeprefix("model."): int(v) for k, v in sets.items() if k.startswith("model.")}
    script = textwrap.dedent(f"""
        import json, torch, zoo
        from safetensors.torch import load_file
        whole = zoo.train("ddpm", data="mnist", out={str(tmp_path / "whole")!r}, epochs=2, model={model!r},
                          **{kwargs!r})
        resumed = zoo.train("ddpm", resume={str(tmp_path / "parts")!r}, epochs=2)
        a, b = (load_file(str(r.bundle / "model.safetensors")) for r in (whole, resumed))
        a1 = zoo.sample(whole.bundle, 4, seed=1, steps=3)
        a2 = zoo.sample(whole.bundle, 4, seed=1, steps=3)
        other = zoo.sample(whole.bundle, 4, seed=2, steps=3)
        ancestral = zoo.sample(whole.bundle, 2, seed=1, sampler="ancestral")
        scores = zoo.evaluate(whole.bundle, metrics="fid", n=20, steps=2)
        print(json.dumps({{"final": whole.final, "identical": a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a),
                          "ema_updates": int(a["ema_updates"]), "shape": list(a1.shape),
                          "seeded": bool(torch.equal(a1, a2)), "other": not torch.equal(a1, other),
                          "low": float(a1.min()), "high": float(a1.max()), "ancestral": list(ancestral.shape),
                          "fid": scores["fid"], "sampler": scores["sampler"]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["identical"] and doc["ema_updates"] == 32  # two epochs of 512 images in batches of 32
    assert "loss" in doc["final"] and doc["shape"] == [4, 1, 28, 28] and doc["seeded"] and doc["other"]
    assert 0.0 <= doc["low"] and doc["high"] <= 1.0 and doc["ancestral"] == [2, 1, 28, 28]
    assert doc["fid"] > 0 and doc["sampler"] == "DDIM (eta 0), 2 steps"


def test_plugin_passes_the_contract_and_its_own_tests(env):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
                          capture_output=True, text=True, env=env, cwd=PLUGIN)
    assert done.returncode == 0, done.stdout[-3000:]
    from zoo.testing import ModelContract

    contract = [name for name in dir(ModelContract) if name.startswith("test_")]
    own = re.findall(r"^def (test_\w+)", (PLUGIN / "tests" / "test_diffusion.py").read_text(), re.M)
    assert len(contract) >= 11 and len(own) >= 8
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed >= len(contract) + len(own) and "skipped" not in done.stdout
