"""The public GAN surface (zoo.surfaces.gan) as a third-party plugin author meets it: the tiny GAN of its
docstring, written against zoo's public modules alone, trains through `zoo train`; a GAN that lacks part of
the surface is refused in one line naming what it lacks."""

from __future__ import annotations

import textwrap

import pytest
import torch

import zoo
import zoo.surfaces.gan
from cli_runner import run_zoo
from plugin_fixtures import plugins  # noqa: F401  (fixture)

SHORT = ["--data", "mnist", "--epochs", "1", "--batch-size", "64", "--quiet", "--set", "max_train_examples=256",
         "--set", "max_eval_examples=100", "--set", "threads=1"]


def docstring_example() -> str:
    """The tiny GAN in zoo.surfaces.gan's docstring, as a module's source."""
    doc = zoo.surfaces.gan.__doc__
    return textwrap.dedent(doc[doc.index("A tiny GAN on 28 x 28 digits::") + len("A tiny GAN on 28 x 28 digits::"):])


def gan_manifest(plugin: str, package: str, config: str, builder: str) -> dict:
    return {"schema_version": 1, "plugin": {"name": plugin, "version": "0.1"}, "families": [],
            "models": [{"name": "tinygan", "task": "adversarial", "family": "tinygan", "summary": "A tiny MLP GAN.",
                        "input_size": 28, "in_chans": 1, "config": f"{package}.tiny:{config}",
                        "builder": f"{package}.tiny:{builder}"}]}


def test_the_surface_docstring_gan_imports_only_zoos_public_modules():
    source = docstring_example()
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("from ", "import "))]
    assert imports and {i for i in imports if i.startswith("zoo")} == {"zoo.surfaces.gan"}
    assert set(imports) <= {"pydantic", "torch", "zoo.surfaces.gan"}


def test_a_plugin_gan_written_against_the_public_surface_trains_samples_and_exports(plugins, mnist_home, tmp_path,  # noqa: F811
                                                                                    monkeypatch, capsys):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    plugins.install("zoo-tinygan", "zoo_tinygan", gan_manifest("tinygan", "zoo_tinygan", "TinyGANConfig", "TinyGAN"),
                    module_source=docstring_example())
    out = tmp_path / "run"
    r = run_zoo(capsys, "train", "tinygan", *SHORT, "--out", str(out))
    assert r.code == 0, r.err
    assert (out / "bundle" / "model.safetensors").is_file() and (out / "samples" / "epoch_001.png").is_file()
    records = (out / "metrics.jsonl").read_text()
    assert '"eval_fid"' in records and '"eval_modes"' in records and '"d_real"' in records
    model = zoo.from_pretrained(out / "bundle")
    images = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (4, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    from zoo.export import export_inputs, export_module

    with torch.no_grad():  # what export writes is the generator (noise -> image), not D
        assert export_module(model)(*export_inputs(model, 2).values()).shape == (2, 1, 28, 28)


HALF_A_GAN = '''
from pydantic import Field
from torch import nn
from zoo.config import ModelConfig


class HalfConfig(ModelConfig):
    image_size: int = Field(28, description="Image side.")
    in_chans: int = Field(1, description="Channels.")
    latent_dim: int = Field(8, description="Noise length.")


class HalfGAN(nn.Module):
    """A generator and sampling, but no discriminator and no game: what a README-only author first wrote."""

    def __init__(self, config):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(config.latent_dim, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))

    def sample(self, n, generator=None, condition=None):
        return (self.generator(__import__("torch").randn(n, 8, generator=generator)) + 1) / 2
'''


def test_a_gan_lacking_part_of_the_surface_is_refused_in_one_line_naming_it(plugins, mnist_home, tmp_path,  # noqa: F811
                                                                          monkeypatch, capsys):
    monkeypatch.setenv("ZOO_HOME", str(mnist_home))
    plugins.install("zoo-halfgan", "zoo_halfgan", gan_manifest("halfgan", "zoo_halfgan", "HalfConfig", "HalfGAN"),
                    module_source=HALF_A_GAN)
    r = run_zoo(capsys, "train", "tinygan", *SHORT, "--out", str(tmp_path / "run"))
    assert r.code == 2, r.err
    line = r.err.strip()
    assert len(line.splitlines()) == 1 and "internal error" not in line
    assert "cannot be trained by the 'adversarial' task" in line and "zoo.surfaces.gan.GANSurface" in line
    for member in ("discriminator", "game", "objective", "fake_condition"):
        assert member in line


@pytest.mark.parametrize("name, kind", [("dcgan", "GANSurface"), ("cgan", "GANSurface"), ("madgan", "GANSurface"),
                                        ("gan_cls", "TextGANSurface")])
def test_the_built_in_gans_build_on_the_public_surface(name, kind):
    from zoo.surfaces import missing_members

    surface = getattr(zoo.surfaces.gan, kind)
    model = zoo.create_model(name, **({"text_encoder": "char_cnn"} if name == "gan_cls" else {}))
    assert isinstance(model, surface) and missing_members(model, surface) == []
