"""`zoo export`: ONNX and TorchScript files agree with PyTorch within 1e-4 at any batch size,
safetensors exports reload, generators export through the model's export hook, and an export
that disagrees with PyTorch is never written."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from cli_runner import run_zoo
from plugin_fixtures import plugins  # noqa: F401  (fixture)
from safetensors import safe_open
from test_weights_support import wt  # noqa: F401  (fixture)

import zoo
from zoo.export import ATOL, export

LENETS = zoo.list_models(family="lenet")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bundles")
    torch.manual_seed(0)
    return {name: zoo.save_pretrained(zoo.create_model(name), root / name) for name in LENETS}


def _onnx_outputs(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x.numpy()})[0]


def test_the_lenet_family_is_registered():
    assert {"lenet5", "lenet5_classic"} <= set(LENETS)


@pytest.mark.parametrize("name", LENETS)
def test_onnx_export_matches_pytorch_with_a_dynamic_batch(name, bundles, tmp_path, capsys):
    out = tmp_path / f"{name}.onnx"
    result = run_zoo(capsys, "export", name, "--weights", str(bundles[name]), "--format", "onnx", "--out", str(out))
    assert result.code == 0, result.err
    graph = onnx.load(str(out)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    model = zoo.from_pretrained(bundles[name])
    for batch in (1, 7):
        x = torch.randn(batch, 1, 32, 32)
        with torch.no_grad():
            want = model(x).numpy()
        got = _onnx_outputs(out, x)
        assert got.shape == (batch, 10)
        assert np.abs(got - want).max() <= ATOL


@pytest.mark.parametrize("name", LENETS)
def test_torchscript_export_matches_pytorch_with_a_dynamic_batch(name, bundles, tmp_path, capsys):
    out = tmp_path / f"{name}.pt"
    result = run_zoo(capsys, "export", name, "--weights", str(bundles[name]), "--format", "torchscript", "--out", str(out))
    assert result.code == 0, result.err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(out))
    model = zoo.from_pretrained(bundles[name])
    x = torch.randn(5, 1, 32, 32)
    with torch.no_grad():
        assert (scripted(x) - model(x)).abs().max() <= ATOL


def test_safetensors_export_is_one_self_describing_file(bundles, tmp_path, capsys):
    out = tmp_path / "lenet5.safetensors"
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--format", "safetensors", "--out", str(out))
    assert result.code == 0, result.err
    with safe_open(out, "pt") as f:
        assert f.metadata()["zoo_model"] == "zoo:lenet5"
    rebuilt = zoo.from_pretrained(out)  # the file alone rebuilds the model
    fresh = zoo.load_weights(zoo.create_model("lenet5"), out)
    original = zoo.from_pretrained(bundles["lenet5"]).state_dict()
    for model in (rebuilt, fresh):
        assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())


def test_export_with_a_pretrained_tag_and_adapted_head(bundles, tmp_path, capsys):
    out = tmp_path / "five.onnx"
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--set", "num_classes=5",
                     "--adapt-head", "--out", str(out))
    assert result.code == 0, result.err
    assert _onnx_outputs(out, torch.randn(3, 1, 32, 32)).shape == (3, 5)


def test_generator_is_exported_through_the_model_hook(wt, tmp_path, capsys):
    model = zoo.create_model("pair").eval()
    bundle = zoo.save_pretrained(model, tmp_path / "pair")
    out = tmp_path / "generator.onnx"
    result = run_zoo(capsys, "export", "pair", "--weights", str(bundle), "--format", "onnx", "--out", str(out))
    assert result.code == 0, result.err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noise", "condition"]
    noise, condition = torch.randn(6, 5), torch.tensor([0, 1, 2, 2, 1, 0])
    (image,) = session.run(None, {"noise": noise.numpy(), "condition": condition.numpy()})
    with torch.no_grad():
        want = model.generator(noise, condition).numpy()
    assert image.shape == (6, 1, 8, 8) and np.abs(image - want).max() <= ATOL


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_that_disagrees_with_pytorch_is_not_written(fmt, wt, tmp_path):
    model = zoo.create_model("branchy").eval()
    out = tmp_path / "new" / "dir" / "branchy.out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's own warning about the Python branch
        with pytest.raises(zoo.ZooError, match=r"export differs from PyTorch by .* not written"):
            export(model, fmt, out)
    assert not (tmp_path / "new").exists()


def test_unknown_format_is_one_line(bundles, tmp_path, capsys):
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--format", "tflite")
    assert result.code == 2 and "unknown format 'tflite'; allowed: safetensors, onnx, torchscript" in result.err


def test_a_bundle_alone_exports_to_the_models_name(bundles, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_zoo(capsys, "export", "--weights", str(bundles["lenet5"]), "--format", "onnx")
    assert result.code == 0, result.err
    assert _onnx_outputs(tmp_path / "lenet5.onnx", torch.randn(2, 1, 32, 32)).shape == (2, 10)
    again = run_zoo(capsys, "export", "--weights", str(bundles["lenet5"]), "--format", "onnx")
    assert again.code == 2 and "lenet5.onnx already exists; pass --overwrite" in again.err


def test_a_pretrained_tag_alone_exports_the_vae_decoder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_zoo(capsys, "export", "vae.mnist", "--format", "onnx")
    assert result.code == 0, result.err
    session = ort.InferenceSession(str(tmp_path / "vae_mnist.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["code"]
    z = torch.randn(4, 40, generator=torch.Generator().manual_seed(0))
    (image,) = session.run(None, {"code": z.numpy()})
    with torch.no_grad():
        want = zoo.load("vae.mnist").eval().decode(z).numpy()
    assert image.shape == (4, 1, 28, 28) and np.abs(image - want).max() <= ATOL


HOOKLESS_GAN = '''
import torch
from pydantic import Field
from torch import nn
from zoo.config import ModelConfig


class PairConfig(ModelConfig):
    latent_dim: int = Field(5, description="Noise size.")
    in_chans: int = Field(1, description="Channels.")
    image_size: int = Field(8, description="Size.")


class Pair(nn.Module):
    """A generator and a discriminator whose forward is D's, and no export hooks."""

    def __init__(self, config):
        super().__init__()
        pixels = config.in_chans * config.image_size ** 2
        self.generator = nn.Sequential(nn.Linear(config.latent_dim, pixels), nn.Tanh())
        self.discriminator = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 1))

    def forward(self, x):
        return self.discriminator(x)
'''


@pytest.mark.parametrize("task", ["adversarial", "autoencoding"])
def test_a_generative_model_without_export_hooks_is_refused_naming_them(task, plugins, tmp_path, capsys):
    from plugin_fixtures import manifest, model_entry

    entry = model_entry("pair", "hooklesspkg", family="pair", task=task, input_size=8,
                        config="hooklesspkg.tiny:PairConfig", builder="hooklesspkg.tiny:Pair")
    plugins.install("hookless-plugin", "hooklesspkg", manifest("hookless", entry), module_source=HOOKLESS_GAN)
    bundle = zoo.save_pretrained(zoo.create_model("pair"), tmp_path / "pair")
    out = tmp_path / "pair.onnx"
    result = run_zoo(capsys, "export", "--weights", str(bundle), "--format", "onnx", "--out", str(out))
    surface = {"adversarial": "zoo.surfaces.gan.GANSurface",
               "autoencoding": "zoo.surfaces.autoencoder.Autoencoder"}[task]
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert (f"hookless:pair cannot be exported: it has no export_module(), export_inputs() (the hooks {surface} names "
            "for the part of the model that makes its output)") in result.err
    assert not out.exists()  # never the discriminator in the generator's place
    weights = run_zoo(capsys, "export", "--weights", str(bundle), "--format", "safetensors",
                      "--out", str(tmp_path / "pair.safetensors"))
    assert weights.code == 0, weights.err  # the weights alone need no hook


def test_the_krizhevsky_lrn_is_torchs_bit_for_bit_and_alexnet_exports_through_it(tmp_path):
    from zoo.layers import krizhevsky_lrn

    gen = torch.Generator().manual_seed(0)
    for shape in [(2, 96, 13, 13), (3, 5, 4, 4), (1, 3, 6, 6)]:  # the last has fewer channels than the window
        ours, torchs = krizhevsky_lrn(), torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
        x = (torch.randn(*shape, generator=gen) * 10).requires_grad_()
        y = x.detach().clone().requires_grad_()
        assert torch.equal(ours(x), torchs(y))
        ours(x).square().sum().backward()
        torchs(y).square().sum().backward()
        assert torch.equal(x.grad, y.grad)
    model = zoo.create_model("alexnet", width=0.125, hidden=32, image_size=64).eval()  # LRN, then adaptive pooling
    assert export(model, "onnx", tmp_path / "alexnet.onnx").max_abs_diff <= ATOL


@pytest.mark.parametrize("device, message", [("cuda:1x", "--device='cuda:1x': use auto, cpu, cuda or cuda:N"),
                                             ("tpu", "--device='tpu': use auto, cpu, cuda or cuda:N")])
def test_a_device_export_cannot_use_is_one_line_and_writes_nothing(device, message, bundles, tmp_path, capsys):
    out = tmp_path / "lenet5.onnx"
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--out", str(out), "--device", device)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: --device cuda exports there")
def test_device_cuda_without_a_gpu_is_one_line(bundles, tmp_path, capsys):
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--out", str(tmp_path / "l.onnx"),
                     "--device", "cuda")
    assert result.code == 2 and "--device=cuda: no CUDA device is available here" in result.err


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_export_traces_on_the_device_asked_and_matches_pytorch_on_the_cpu(fmt, device, bundles, tmp_path, capsys):
    """Traced on `device` and checked there against PyTorch (TF32 off); ONNX runs in onnxruntime on the CPU."""
    out = tmp_path / f"lenet5.{fmt}"
    result = run_zoo(capsys, "export", "lenet5", "--weights", str(bundles["lenet5"]), "--format", fmt, "--out", str(out),
                     "--device", device)
    assert result.code == 0, result.err
    model = zoo.from_pretrained(bundles["lenet5"]).eval()
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        want = model(x).numpy()
    if fmt == "onnx":
        got = _onnx_outputs(out, x)
    else:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)
            got = torch.jit.load(str(out))(x.to(device)).cpu().numpy()
    assert np.abs(got - want).max() <= 10 * ATOL  # the GPU's kernels against the CPU's
