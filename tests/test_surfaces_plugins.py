"""Third-party models written only against zoo's public surfaces (`zoo.surfaces`): the example in each
surface's documentation passes the model contract, the VAE one trains, samples and exports through the
CLI, and a VAE that lacks part of its surface is refused in one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cli_runner import run_zoo
from plugin_fixtures import manifest, model_entry, plugins  # noqa: F401  (fixture)

import zoo
import zoo.surfaces.autoencoder
import zoo.surfaces.classifier
import zoo.surfaces.vae


def snippet(module) -> str:
    """The example that ends a surface module's documentation, as the source of a plugin module."""
    return textwrap.dedent(module.__doc__.split("::\n", 1)[1])


# Beside the documented TinyVAE: `PlainConfig` names the task's config fields itself and has no
# `condition_classes`; `BareConfig` has none of the task's fields.
OTHER_VAE_CONFIGS = '''
from zoo.config import ModelConfig


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
'''

SMALL = ["--epochs", "1", "--batch-size", "64", "--quiet", "--set", "max_train_examples=256",
         "--set", "max_eval_examples=128", "--set", "threads=1"]


def _install(plugins) -> None:
    vaes = {"tinyvae": "TinyVAEConfig", "plainvae": "PlainConfig", "barevae": "BareConfig"}
    entries = [model_entry(name, "surfacepkg", family="tinyvae", task="variational", input_size=28,
                           config=f"surfacepkg.tiny:{config}", builder="surfacepkg.tiny:TinyVAE")
               for name, config in vaes.items()]
    entries += [model_entry("tinyae", "surfacepkg", family="tinyae", task="autoencoding", input_size=28,
                            config="surfacepkg.ae:TinyAEConfig", builder="surfacepkg.ae:TinyAE"),
                model_entry("tinycnn", "surfacepkg", family="tinycnn", task="classification", input_size=32,
                            config="surfacepkg.cnn:ImageClassifierConfig", builder="surfacepkg.cnn:TinyCNN")]
    path = plugins.install("surface-plugin", "surfacepkg", manifest("surfaces", *entries),
                           module_source=snippet(zoo.surfaces.vae) + OTHER_VAE_CONFIGS)
    (path.parent / "ae.py").write_text(snippet(zoo.surfaces.autoencoder))
    (path.parent / "cnn.py").write_text(snippet(zoo.surfaces.classifier))


def test_the_documented_vae_trains_samples_and_exports(plugins, mnist_home, tmp_path, capsys, monkeypatch):
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
    assert "--label needs a conditional model; surfaces:plainvae is not conditional" in r.err
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def _contract(site: Path, *models: str) -> subprocess.CompletedProcess:
    """zoo.testing.ModelContract over models of the installed plugin, in a fresh pytest process."""
    test = site / "test_surfaces_contract.py"
    test.write_text("from zoo.testing import ModelContract\n\n\nclass TestContract(ModelContract):\n"
                    f"    models = {tuple(f'surfaces:{m}' for m in models)!r}\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                          capture_output=True, text=True, env=env, cwd=site)


def test_the_contract_passes_each_surfaces_documented_example_and_fails_a_vae_that_cannot_train(plugins):
    from zoo.testing import ModelContract

    _install(plugins)
    checks = [name for name in dir(ModelContract) if name.startswith("test_")]
    passed = _contract(plugins.root, "tinyvae", "tinyae", "tinycnn")
    assert passed.returncode == 0 and f"{3 * len(checks)} passed" in passed.stdout, passed.stdout[-3000:]
    failed = _contract(plugins.root, "barevae")
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "test_its_task_trains_one_step_at_tiny_size" in failed.stdout
    assert "SurfaceError: surfaces:barevae cannot be trained by the 'variational' task" in failed.stdout
