"""The VAE through `zoo train`, `zoo eval`, `zoo sample` and `zoo export` on real MNIST subsets.

Runs are small (2,048 training digits, batches of 64, 2 epochs, 500 test digits); what they
check does not depend on size.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from cli_runner import run_zoo
from test_train_cli import comparable, records, zoo_proc, zoo_run

SMALL = ["--epochs", "2", "--batch-size", "64", "--quiet", "--set", "max_train_examples=2048",
         "--set", "max_eval_examples=500", "--set", "threads=1"]


@pytest.fixture(scope="module")
def vae_run(mnist_home, tmp_path_factory) -> Path:
    """An uninterrupted VAE run checkpointing every 5 steps and logging every step."""
    out = tmp_path_factory.mktemp("vae") / "run"
    r = zoo_run(mnist_home, "train", "vae", "--data", "mnist", "--out", str(out), *SMALL,
                "--set", "checkpoint_every=5", "--set", "log_every=1")
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def home(mnist_home, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    return mnist_home


def test_elbo_improves_on_real_mnist_within_a_small_budget(vae_run, home):
    from zoo.engine.inference import load_trained

    evals = [r["eval_elbo"] for r in records(vae_run) if r["kind"] == "eval"]
    assert len(evals) == 2 and evals[1] > evals[0]
    loaded = load_trained(str(vae_run / "bundle"))
    test = loaded.task.load_split("test", 500)
    trained = loaded.task.evaluate(test)
    untrained = zoo.create_model("vae").eval()
    loaded.task.model = untrained
    before = loaded.task.evaluate(test)
    # Untrained: about -545 nats (784 pixels at p = 0.5); 64 Adam steps on 2,048 digits reach about -200.
    assert trained["elbo"] > before["elbo"] + 200
    assert trained["elbo"] == pytest.approx(records(vae_run)[-1]["eval_elbo"])
    assert trained["elbo"] == pytest.approx(-(trained["recon"] + trained["kl"]))


def test_run_writes_reconstruction_and_sample_grids_every_epoch_and_recon_kl_curves(vae_run):
    for name in ("grids/recon-001.png", "grids/recon-002.png", "grids/samples-001.png", "grids/samples-002.png",
                 "curves.png", "bundle/model.safetensors"):
        assert (vae_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" or name.endswith(".safetensors"), name
    epoch = [r for r in records(vae_run) if r["kind"] == "epoch"][-1]
    assert {"train_recon", "train_kl", "eval_recon", "eval_kl", "eval_elbo"} <= set(epoch)
    bundle = json.loads((vae_run / "bundle/config.json").read_text())
    assert "dynamic binarisation" in bundle["notes"] and "fixed draw of the test set" in bundle["notes"]
    assert {k.split(".")[0] for k in load_file(vae_run / "bundle/model.safetensors")} == {"encoder", "decoder"}


def test_vae_resumed_after_sigkill_ends_bit_identical(vae_run, mnist_home, tmp_path):
    out = tmp_path / "run"
    p = zoo_proc(mnist_home, "train", "vae", "--data", "mnist", "--out", str(out), *SMALL,
                 "--set", "checkpoint_every=5", "--set", "log_every=1")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill in epoch 2 (32 steps an epoch), after the step-40 checkpoint
        if (out / "metrics.jsonl").is_file() and '"step": 42,' in (out / "metrics.jsonl").read_text():
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL and not (out / "bundle").exists()
    r = zoo_run(mnist_home, "train", "--resume", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = load_file(vae_run / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert comparable(out) == comparable(vae_run)


def test_two_gloo_processes_train_a_vae(vae_run, mnist_home, tmp_path):
    out = tmp_path / "ddp"
    r = zoo_run(mnist_home, "train", "vae", "--data", "mnist", "--out", str(out), *SMALL, "--nproc-per-node", "2")
    assert r.returncode == 0, r.stderr
    # Each rank binarises its half of the batch from its own copy of the seeded RNG, so the
    # draws (not the data order) differ from one process; the ELBO must come out alike.
    single, ddp = records(vae_run)[-1]["eval_elbo"], records(out)[-1]["eval_elbo"]
    assert abs(single - ddp) < 5
    assert (out / "grids/samples-002.png").is_file()


def test_eval_reports_elbo_and_a_tighter_iwae_bound(vae_run, home, capsys, tmp_path):
    r = run_zoo(capsys, "eval", "--weights", str(vae_run / "bundle"), "--n", "200", "--iw-samples", "50",
                "--latent-map", str(tmp_path / "map.png"), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["examples"] == 200 and doc["iw_samples"] == 50
    assert doc["nll_iwae"] < -doc["elbo"]  # the IWAE bound (k = 50) is tighter than the ELBO (k = 1)
    assert doc["nll_iwae"] > 60  # no MNIST model is that good; a sign error would show here
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_sampling_from_a_bundle_needs_no_data_and_repeats_under_a_seed(vae_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "empty-home"))  # no MNIST here: the decoder samples on its own
    outs = []
    for seed, name in ((3, "a.png"), (3, "b.png"), (4, "c.png")):
        r = run_zoo(capsys, "sample", "--weights", str(vae_run / "bundle"), "--n", "16", "--seed", str(seed),
                    "--out", str(tmp_path / name))
        assert r.code == 0, r.err
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]
    assert not (tmp_path / "empty-home").exists()


def test_decoder_tensors_alone_reproduce_the_bundle_samples(vae_run):
    model = zoo.from_pretrained(vae_run / "bundle").eval()
    decoder_only = zoo.create_model("vae").eval()
    tensors = load_file(vae_run / "bundle/model.safetensors")
    decoder_only.decoder.load_state_dict({k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")})
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(model.sample(8, generator=gen()), decoder_only.sample(8, generator=gen()))


@pytest.mark.parametrize("mode", ["--interpolate", "--reconstruct"])
def test_interpolation_strip_and_reconstruction_grid_are_written(mode, vae_run, home, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "x.png"
    r = run_zoo(capsys, "sample", "--weights", str(vae_run / "bundle"), "--n", "10", mode, "--out", str(out))
    assert r.code == 0, r.err
    width, height = Image.open(out).size
    if mode == "--interpolate":
        assert (width, height) == (10 * 30 + 2, 32)  # one row of 10 28-px images, 2-px padding
    else:
        assert (width, height) == (4 * 30 + 2, 6 * 30 + 2)  # 4 columns; 3 input rows (4, 4, 2) each over its recon row


def test_onnx_export_of_the_vae_is_its_decoder(vae_run, tmp_path, capsys):
    import onnxruntime as ort

    out = tmp_path / "vae.onnx"
    r = run_zoo(capsys, "export", "vae", "--weights", str(vae_run / "bundle"), "--format", "onnx", "--out", str(out))
    assert r.code == 0, r.err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["code"]
    z = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    got = torch.from_numpy(session.run(None, {"code": z.numpy()})[0])
    want = zoo.from_pretrained(vae_run / "bundle").eval().decode(z)
    assert got.shape == (3, 1, 28, 28) and torch.allclose(got, want.detach(), atol=1e-5)
