"""A third-party VAE written only against zoo's public surface (`zoo.surfaces.vae`) trains, samples and
exports through the CLI; one that lacks part of the surface is refused in one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_zoo
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

import zoo

# What a plugin author writes from the surface's documentation: a config on VAEConfigBase and two
# networks on the VAE base class. `PlainVAE` names the task's config fields itself and has no
# `condition_classes`; `BareVAE`'s config has none of the task's fields.
VAE_PLUGIN = '''
from pydantic import Field
from torch import nn
from zoo.config import ModelConfig
from zoo.surfaces.vae import VAE, GaussianPosterior, VAEConfigBase


class TinyVAEConfig(VAEConfigBase):
    in_chans: int = Field(1, description="Image channels.")
    image_size: int = Field(28, description="Image side in pixels.")
    hidden: int = Field(32, description="Hidden units.")


class PlainConfig(ModelConfig):
    in_chans: int = Field(1, description="Image channels.")
    image_size: int = Field(28, description="Image side in pixels.")
    hidden: int = Field(32, description="Hidden units.")
    latent_size: int = Field(4, description="Dimension of z.")
    likelihood: str = Field("bernoulli", description="p(x|z).")
    binarize: bool = Field(True, description="Dynamic binarisation.")
    beta: float = Field(1.0, description="KL weight.")
    kl_warmup_epochs: float = Field(0.0, description="KL warm-up.")


class BareConfig(ModelConfig):
    in_chans: int = Field(1, description="Image channels.")
    image_size: int = Field(28, description="Image side in pixels.")
    hidden: int = Field(32, description="Hidden units.")
    latent_size: int = Field(4, description="Dimension of z.")


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(c.in_chans * c.image_size ** 2, c.hidden), nn.ReLU())
        self.mean, self.logvar = nn.Linear(c.hidden, c.latent_size), nn.Linear(c.hidden, c.latent_size)

    def forward(self, x, onehot=None):
        h = self.body(x)
        return GaussianPosterior(self.mean(h), self.logvar(h))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(c.latent_size, c.hidden), nn.ReLU(),
                                 nn.Linear(c.hidden, c.in_chans * c.image_size ** 2), nn.Unflatten(1, c.input_shape()))

    def forward(self, z, onehot=None):
        return self.net(z)


class TinyVAE(VAE):
    def __init__(self, config):
        super().__init__(config, Encoder(config), Decoder(config))
'''

SMALL = ["--epochs", "1", "--batch-size", "64", "--quiet", "--set", "max_train_examples=256",
         "--set", "max_eval_examples=128", "--set", "threads=1"]


def _install(plugins) -> None:
    configs = {"tinyvae": "TinyVAEConfig", "plainvae": "PlainConfig", "barevae": "BareConfig"}
    entries = [model_entry(name, "tinyvaepkg", family="tinyvae", task="variational", input_size=28,
                           config=f"tinyvaepkg.tiny:{config}", builder="tinyvaepkg.tiny:TinyVAE")
               for name, config in configs.items()]
    plugins.install("tiny-vae-plugin", "tinyvaepkg", manifest("tinyvae", *entries), module_source=VAE_PLUGIN)


def test_a_vae_on_the_public_surface_trains_samples_and_exports(plugins, mnist_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    monkeypatch.chdir(tmp_path)
    _install(plugins)
    run = tmp_path / "run"
    trained = run_zoo(capsys, "train", "tinyvae", "--data", "mnist", "--out", str(run), *SMALL)
    assert trained.code == 0, trained.err
    assert (run / "bundle" / "model.safetensors").is_file()
    final = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert final["kind"] == "end" and -1000 < final["eval_elbo"] < 0  # nats per digit: a bound on log p(x)
    sampled = run_zoo(capsys, "sample", "--weights", str(run / "bundle"), "--n", "4", "--out", "grid.png")
    assert sampled.code == 0, sampled.err
    assert Path("grid.png").read_bytes()[:4] == b"\x89PNG"
    exported = run_zoo(capsys, "export", "--weights", str(run / "bundle"), "--format", "onnx")
    assert exported.code == 0, exported.err
    import onnxruntime as ort

    session = ort.InferenceSession("tinyvae.onnx", providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["code"]  # the decoder: code -> image
    assert session.get_outputs()[0].shape[1:] == [1, 28, 28]


def test_a_vae_config_without_the_task_fields_is_refused_naming_them_and_the_surface(plugins, tmp_path, capsys):
    _install(plugins)
    r = run_zoo(capsys, "train", "barevae", "--data", "mnist", "--out", str(tmp_path / "run"), *SMALL)
    assert r.code == 2, r.err
    assert r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1, r.err
    assert ("has no zoo_config.likelihood, zoo_config.binarize, zoo_config.beta, zoo_config.kl_warmup_epochs "
            "(the task's surface is zoo.surfaces.vae.VAE)") in r.err
    assert not (tmp_path / "run").exists()


def test_a_label_on_an_unconditional_third_party_vae_is_refused_in_one_line(plugins, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _install(plugins)
    bundle = zoo.save_pretrained(zoo.create_model("plainvae"), tmp_path / "bundle")  # a config without condition_classes
    r = run_zoo(capsys, "sample", "--weights", str(bundle), "--label", "3", "--out", "x.png")
    assert r.code == 2, r.err
    assert "--label needs a conditional model; tinyvae:plainvae is not conditional" in r.err
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def _contract(site: Path, model: str) -> subprocess.CompletedProcess:
    """zoo.testing.ModelContract over one model of the installed plugin, in a fresh pytest process."""
    test = site / f"test_{model}_contract.py"
    test.write_text("from zoo.testing import ModelContract\n\n\nclass TestContract(ModelContract):\n"
                    f"    models = ('tinyvae:{model}',)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                          capture_output=True, text=True, env=env, cwd=site)


def test_the_contract_passes_a_vae_on_the_public_surface_and_fails_one_that_cannot_train(plugins):
    from zoo.testing import ModelContract

    _install(plugins)
    checks = [name for name in dir(ModelContract) if name.startswith("test_")]
    passed = _contract(plugins.root, "tinyvae")
    assert passed.returncode == 0 and f"{len(checks)} passed" in passed.stdout, passed.stdout[-3000:]
    failed = _contract(plugins.root, "barevae")
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "test_its_task_trains_one_step_at_tiny_size" in failed.stdout
    assert "SurfaceError: tinyvae:barevae cannot be trained by the 'variational' task" in failed.stdout
