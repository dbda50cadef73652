"""`zoo train/sample/export` with a GAN: resume after SIGKILL, DDP, the run's pictures, bad input.

Runs use dcgan at width 8 on 512 MNIST digits (batches of 64, 2 epochs: 16 steps), one thread
per process, and evaluate on 100 test digits, so a run takes seconds; what is checked does not
depend on size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_runner import run_zoo

SMALL = ["--epochs", "2", "--batch-size", "64", "--quiet", "--set", "model.width=8", "--set", "max_train_examples=512",
         "--set", "max_eval_examples=100", "--set", "threads=1"]


def zoo_proc(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ZOO_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def zoo_run(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    p = zoo_proc(home, *args)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def comparable(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in records(run)]


@pytest.fixture(scope="module")
def reference(mnist_home, tmp_path_factory) -> Path:
    """An uninterrupted run, checkpointing every 5 steps, logging every step."""
    out = tmp_path_factory.mktemp("gan-ref") / "run"
    r = zoo_run(mnist_home, "train", "dcgan", "--data", "mnist", "--out", str(out), *SMALL,
                "--set", "checkpoint_every=5", "--set", "log_every=1", "--set", "train.optim.discriminator.lr=1e-4")
    assert r.returncode == 0, r.stderr
    return out


def test_training_run_logs_both_players_and_draws_grids_gif_and_curves(reference):
    recs = records(reference)
    step = next(r for r in recs if r["kind"] == "step")
    assert {"loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(step)
    evals = [r for r in recs if r["kind"] == "eval"]
    assert len(evals) == 2 and all("eval_fid" in r and "eval_modes" in r and "eval_kl_uniform" in r for r in evals)
    assert sum(evals[-1][f"eval_share_{d}"] for d in range(10)) == pytest.approx(1.0)
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "samples.gif", "curves.png", "bundle/model.safetensors"):
        assert (reference / name).is_file(), name
    from PIL import Image

    assert Image.open(reference / "samples.gif").n_frames == 2
    tensors = load_file(reference / "bundle/model.safetensors")
    assert any(k.startswith("generator.") for k in tensors) and any(k.startswith("discriminator.") for k in tensors)
    import yaml

    config = yaml.safe_load((reference / "config.yaml").read_text())
    assert config["train"]["optim"]["discriminator"]["lr"] == 1e-4 and config["train"]["betas"] == [0.5, 0.999]


def test_resume_after_sigkill_mid_epoch_ends_bit_identical(mnist_home, reference, tmp_path):
    out = tmp_path / "run"
    p = zoo_proc(mnist_home, "train", "dcgan", "--data", "mnist", "--out", str(out), *SMALL, "--set", "checkpoint_every=5",
                 "--set", "log_every=1", "--set", "train.optim.discriminator.lr=1e-4")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill in epoch 2, after the step-10 checkpoint
        if (out / "metrics.jsonl").is_file() and '"step": 12,' in (out / "metrics.jsonl").read_text():
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL and not (out / "bundle").exists()
    r = zoo_run(mnist_home, "train", "--resume", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "step 10" in r.stderr
    a, b = load_file(reference / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert comparable(out) == comparable(reference)


def test_lenet_weights_given_for_evaluation_change_what_is_measured_not_what_is_trained(mnist_home, reference,
                                                                                      tmp_path):
    """The reference run again, its FID and coverage on the LeNet-5 given as a file (here lenet5.mnist's
    own bundle, so every record must match: loading it draws nothing from the run's random stream)."""
    from zoo.weights.tags import find_tag, locate

    out = tmp_path / "given"
    r = zoo_run(mnist_home, "train", "dcgan", "--data", "mnist", "--out", str(out), *SMALL,
                "--set", "checkpoint_every=5", "--set", "log_every=1", "--set", "train.optim.discriminator.lr=1e-4",
                "--set", f"train.eval_extractor_weights={locate(find_tag('lenet5.mnist'))}")
    assert r.returncode == 0, r.stderr
    assert comparable(out) == comparable(reference)


def test_two_gloo_processes_train_and_keep_both_players_in_step(mnist_home, reference, tmp_path):
    out = tmp_path / "ddp"
    r = zoo_run(mnist_home, "train", "dcgan", "--data", "mnist", "--out", str(out), *SMALL, "--set", "log_every=1",
                "--set", "train.optim.discriminator.lr=1e-4", "--nproc-per-node", "2")
    assert r.returncode == 0, r.stderr
    ddp, single = load_file(out / "bundle/model.safetensors"), load_file(reference / "bundle/model.safetensors")
    assert ddp.keys() == single.keys()
    # Batch norm sees each process's half batch, so the runs differ more than float rounding;
    # both trained the same number of steps from the same start and stay finite.
    assert all(torch.isfinite(v).all() for v in ddp.values())
    assert [r["step"] for r in records(out) if r["kind"] == "epoch"] == [8, 16]
    assert (out / "samples.gif").is_file()


def test_sample_from_a_run_bundle_writes_a_grid_and_an_interpolation_strip(mnist_home, reference, tmp_path, capsys,
                                                                           monkeypatch):
    from PIL import Image

    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    grid, strip = tmp_path / "grid.png", tmp_path / "strip.png"
    r = run_zoo(capsys, "sample", "dcgan", "--weights", str(reference / "bundle"), "--n", "16", "--out", str(grid),
                "--seed", "3", "--truncation", "0.7")
    assert r.code == 0, r.err
    r = run_zoo(capsys, "sample", "dcgan", "--weights", str(reference / "bundle"), "--n", "8", "--out", str(strip),
                "--interpolate")
    assert r.code == 0, r.err
    assert Image.open(grid).size == (4 * 34 + 2, 4 * 34 + 2)  # 4 x 4 tiles of 32 px, 2 px gaps
    assert Image.open(strip).size == (8 * 34 + 2, 34 + 2)


def test_a_bundle_generator_exports_to_onnx_and_samples_on_its_own(reference, tmp_path, capsys):
    import numpy as np
    import onnxruntime as ort

    out = tmp_path / "g.onnx"
    r = run_zoo(capsys, "export", "dcgan", "--weights", str(reference / "bundle"), "--format", "onnx", "--out", str(out))
    assert r.code == 0, r.err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noise"]
    (images,) = session.run(None, {"noise": np.random.default_rng(0).standard_normal((5, 100), dtype=np.float32)})
    assert images.shape == (5, 1, 32, 32) and 0.0 <= images.min() and images.max() <= 1.0


def test_a_cgan_generator_exports_with_a_label_input_to_torchscript_and_onnx(tmp_path, capsys):
    import numpy as np
    import onnxruntime as ort

    import zoo

    model = zoo.create_model("cgan", hidden=8).eval()
    bundle = zoo.save_pretrained(model, tmp_path / "cgan")
    for fmt, name in (("onnx", "g.onnx"), ("torchscript", "g.pt")):
        r = run_zoo(capsys, "export", "cgan", "--weights", str(bundle), "--format", fmt, "--out", str(tmp_path / name))
        assert r.code == 0, r.err
    noise, labels = torch.randn(4, 100), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        want = model.render(noise, labels)
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    assert torch.allclose(scripted(noise, labels), want, atol=1e-5)
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"noise": noise.numpy(), "label": labels.numpy().astype(np.int64)})
    assert [i.name for i in session.get_inputs()] == ["noise", "label"]
    assert np.allclose(got, want.numpy(), atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--label", "3"], "unconditional"),
    (["--truncation", "0"], "truncation"),
    (["--n", "0"], "--n"),
    (["--reconstruct"], "does not apply"),
])
def test_bad_sample_input_is_one_line_and_exit_2(args, message, reference, tmp_path, capsys):
    r = run_zoo(capsys, "sample", "dcgan", "--weights", str(reference / "bundle"), "--out", str(tmp_path / "x.png"), *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "x.png").exists()


def test_a_label_outside_the_classes_of_a_cgan_is_exit_2(tmp_path, capsys):
    import zoo

    bundle = zoo.save_pretrained(zoo.create_model("cgan", hidden=8), tmp_path / "cgan")
    r = run_zoo(capsys, "sample", "cgan", "--weights", str(bundle), "--label", "10", "--out", str(tmp_path / "x.png"))
    assert r.code == 2 and "outside the classes 0..9" in r.err, r.err


def test_a_classifier_bundle_given_to_a_gan_command_is_exit_2(tmp_path, capsys):
    r = run_zoo(capsys, "sample", "dcgan", "--weights", "lenet5.mnist", "--out", str(tmp_path / "x.png"))
    assert r.code == 2 and "lenet5" in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_weight_clipping_on_dcgan_is_refused_before_training(mnist_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    r = run_zoo(capsys, "train", "dcgan", "--data", "mnist", "--out", str(tmp_path / "run"), "--set", "clip_value=0.01")
    assert r.code == 2 and "clip_value" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_a_critic_bundle_or_weights_file_samples_although_its_recipe_splits_batches_into_d_steps(name, tmp_path, capsys):
    import zoo
    from zoo.engine.trainer import save_weights_file

    model = zoo.create_model(name, width=8).eval()
    bundle = zoo.save_pretrained(model, tmp_path / name)
    save_weights_file(model, tmp_path / "lone.safetensors", {})
    for weights in (str(bundle), str(tmp_path / "lone.safetensors")):
        out = tmp_path / f"{Path(weights).stem}.png"
        r = run_zoo(capsys, "sample", name, "--weights", weights, "--n", "4", "--out", str(out))
        assert r.code == 0 and out.is_file(), r.err
