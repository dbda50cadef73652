"""Autoencoders on real MNIST subsets: reconstruction training, denoising noise, codes reused by a
linear probe, a latent map and a classifier on the frozen encoder with few labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from cli_runner import run_zoo
from test_train_cli import records

SMALL = ["--epochs", "2", "--batch-size", "64", "--quiet", "--set", "max_train_examples=2048",
         "--set", "max_eval_examples=500", "--set", "threads=1"]


@pytest.fixture
def home(mnist_home, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    return mnist_home


@pytest.fixture(scope="module")
def stacked(mnist_home, tmp_path_factory) -> Path:
    """stacked_ae trained in-process for 2 epochs on 2,048 digits."""
    from zoo.cli import main

    out = tmp_path_factory.mktemp("stacked") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_HOME", str(mnist_home))
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "stacked_ae", "--data", "mnist", "--out", str(out), *SMALL])
    assert exit_info.value.code == 0
    return out


def test_stacked_ae_reconstruction_error_falls_and_each_epoch_writes_grids(stacked):
    evals = [r for r in records(stacked) if r["kind"] == "eval"]
    untrained_mse = 0.1  # sigmoid(0)-ish outputs against mostly-black digits: about 0.1 per pixel
    assert evals[1]["eval_mse"] < evals[0]["eval_mse"] < untrained_mse
    assert evals[1]["eval_loss"] == evals[1]["eval_bce"]  # recon_loss bce is the main metric
    for name in ("grids/recon-001.png", "grids/samples-002.png", "curves.png"):
        assert (stacked / name).read_bytes()[:4] == b"\x89PNG"
    tensors = load_file(stacked / "bundle/model.safetensors")
    assert {k.split(".")[0] for k in tensors} == {"encoder", "decoder"}
    assert tensors["decoder.code_std"].shape == (150,) and (tensors["decoder.code_std"] > 0).all()


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_denoising_noise_corrupts_the_input_in_training_only_and_the_target_stays_clean(noise):
    from zoo.engine.config import compose
    from zoo.tasks import task_class

    model = zoo.create_model("denoising_ae", noise=noise, noise_level=0.3)
    x = torch.rand(64, 1, 28, 28)
    torch.manual_seed(0)
    corrupted = model.train().corrupt(x)
    changed = (corrupted != x).float().mean().item()
    if noise == "gaussian":
        assert (corrupted - x).std().item() == pytest.approx(0.3, rel=0.05)
    else:
        assert changed == pytest.approx(0.3, abs=0.03)  # pixels of torch.rand are never exactly 0 or 1
    model.eval()
    assert torch.equal(model(x).logits, model.decoder(model.encoder(x)))  # eval: clean input

    config = compose("denoising_ae", sets=[f"model.noise={noise}", "model.noise_level=0.3"])
    task = task_class("autoencoding")(model, config, torch.device("cpu"))
    images = (x * 255).to(torch.uint8)
    clean = task.prepare(images)
    seen = []

    class Recorder:
        def step(self, loss, name="model"):
            seen.append(loss.detach())

    model.train()
    torch.manual_seed(1)
    task.train_step({"images": images, "labels": torch.zeros(64, dtype=torch.long)}, {"model": model}, Recorder())
    torch.manual_seed(1)
    expected = task.recon_loss(model(clean).logits, clean)  # same noise draw, loss against the clean image
    assert torch.allclose(seen[0], expected)


def test_codes_beyond_two_dimensions_are_mapped_by_their_principal_plane():
    from zoo.tasks.autoencoding import project_2d

    gen = torch.Generator().manual_seed(0)
    plane = torch.randn(200, 2, generator=gen) * torch.tensor([5.0, 2.0])
    basis, _ = torch.linalg.qr(torch.randn(6, 2, generator=gen))
    codes = (plane @ basis.T + 3.0).double()  # 6-d codes on a shifted 2-d plane
    xy, what = project_2d(codes)
    assert what == "PCA of the codes"
    assert torch.allclose(torch.cdist(xy, xy), torch.cdist(plane.double(), plane.double()), atol=1e-6)  # distances kept
    two = torch.randn(5, 2, generator=gen)
    assert torch.equal(project_2d(two)[0], two)


def test_linear_probe_and_latent_map_of_stacked_ae_codes(stacked, home, tmp_path, capsys):
    png = tmp_path / "map.png"
    r = run_zoo(capsys, "eval", "--weights", str(stacked / "bundle"), "--n", "500", "--linear-probe",
                "--latent-map", str(png), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    # A linear classifier on 150-d codes of a 2-epoch autoencoder, trained on all 60,000 codes: chance is 0.1.
    assert doc["linear_probe_accuracy"] > 0.85
    assert png.read_bytes()[:4] == b"\x89PNG" and doc["latent_map"] == str(png)
    assert doc["mse"] == pytest.approx(records(stacked)[-1]["eval_mse"], rel=1e-5)  # the run's final evaluation, same 500 digits


def test_classifier_on_the_frozen_encoder_trains_its_head_on_ten_labels_per_class(stacked, home, tmp_path, capsys):
    out = tmp_path / "clf"
    r = run_zoo(capsys, "train", "ae_classifier", "--data", "mnist", "--init-from", str(stacked / "bundle"),
                "--freeze", "encoder", "--set", "labels_per_class=10",
                "--set", "max_eval_examples=1000", "--set", "threads=1", "--quiet", "--out", str(out))
    assert r.code == 0, r.err
    assert "initialised encoder from" in r.err and "frozen: encoder" in r.err
    ae, clf = load_file(stacked / "bundle/model.safetensors"), load_file(out / "bundle/model.safetensors")
    encoder = [k for k in clf if k.startswith("encoder.")]
    assert encoder and all(torch.equal(ae[k], clf[k]) for k in encoder)
    steps = [r["step"] for r in records(out) if r["kind"] == "epoch"]
    assert steps[0] == 2  # 100 labelled digits in batches of 50
    # 100 labels through a 2-epoch autoencoder's frozen codes (the recipe's 200 steps); chance is 0.1.
    assert records(out)[-1]["eval_accuracy"] > 0.4


def test_labelled_subset_is_class_balanced_and_seeded():
    from zoo.engine.trainer import labelled_subset

    labels = torch.arange(1000) % 7
    data = {"images": torch.arange(1000), "labels": labels}
    a, b, c = labelled_subset(data, 5, 0), labelled_subset(data, 5, 0), labelled_subset(data, 5, 1)
    assert torch.bincount(a["labels"]).tolist() == [5] * 7
    assert torch.equal(a["images"], b["images"]) and not torch.equal(a["images"], c["images"])
    assert torch.equal(a["labels"], labels[a["images"]])


def test_zoo_train_takes_each_family_recipe_as_its_default():
    from zoo.engine.config import compose

    vae = compose("vae", data_name="mnist")
    assert (vae.train.optimizer, vae.train.lr, vae.train.batch_size, vae.train.epochs) == ("adam", 1e-3, 100, 200)
    assert compose("stacked_ae").train.epochs == 20
    classifier = compose("ae_classifier", data_name="mnist")
    assert classifier.data.normalize is False  # the encoder was trained on [0, 1] pixels
    assert compose("ae_classifier", sets=["data.normalize=true"]).data.normalize is True
