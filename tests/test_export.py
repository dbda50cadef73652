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
