"""Conversion of torchvision and timm weights into the zoo's VGG, AlexNet and GoogLeNet.

Peers are built with random weights (no download): on the meta device, then filled from one
shared random buffer, which is much faster than their own initialisers at 130 M parameters.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

import zoo
from cli_runner import run_zoo
from zoo.convert import convert_state_dict
from zoo.errors import ZooError

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

VGG = zoo.list_models(family="vgg")
TORCHVISION_VGG = [m for m in VGG if m in torchvision.models.list_models()]
# timm's VGG differs from torchvision's only in its conv-form classifier, which is the same
# in every configuration; one plain and one batch-norm model cover the mapping.
TIMM_VGG = [m for m in ("vgg11", "vgg19_bn") if m in VGG and m in timm.list_models("vgg*")]


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    return torch.rand(150_000_000, generator=torch.Generator().manual_seed(0)) * 2 - 1  # U(-1, 1)


def randomise(model: torch.nn.Module, noise: torch.Tensor) -> torch.nn.Module:
    """Materialise a meta-device model with He-uniform weights, small biases and plausible BN statistics."""
    model.to_empty(device="cpu")
    offset = 0
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.zero_()
                continue
            chunk = noise[offset:offset + t.numel()].view_as(t)
            offset = (offset + t.numel()) % (noise.numel() - t.numel())
            if name.endswith("running_var"):
                t.copy_(chunk.abs() + 0.5)
            elif t.dim() > 1:
                t.copy_(chunk * math.sqrt(6.0 / t[0].numel()))
            else:
                t.copy_(chunk * 0.1)
    return model


def peer(factory, noise, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        model = factory(**kwargs)
    return randomise(model, noise).eval()


def assert_same_logits(ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, dtype=torch.float32) -> None:
    """Equal logits, atol 1e-5. Models are cast to `dtype` in place."""
    with torch.no_grad():
        a, b = ours.to(dtype).eval()(x.to(dtype)), theirs.to(dtype).eval()(x.to(dtype))
    assert a.shape == b.shape
    assert b.abs().max() > 1e-3, "peer logits are all ~0; the comparison would prove nothing"
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", TORCHVISION_VGG)
def test_torchvision_vgg_converts_to_equal_logits(name, noise):
    theirs = peer(getattr(torchvision.models, name), noise, num_classes=10)
    ours = convert_state_dict(name, theirs.state_dict(), image_size=32)
    assert ours.zoo_config.num_classes == 10 and ours.zoo_config.head_grid == 7
    assert_same_logits(ours, theirs, torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("name", TIMM_VGG)
def test_timm_vgg_converts_to_equal_logits(name, noise):
    theirs = peer(timm.create_model, noise, model_name=name, pretrained=False, num_classes=7)
    ours = convert_state_dict(name, theirs.state_dict(), image_size=32)
    # float64: timm's fc1 is a 7×7 conv, ours a linear layer; in float32 the two sum 25,088
    # products in different orders and differ by ~1e-5 at logits of ~5.
    assert_same_logits(ours, theirs, torch.randn(2, 3, 32, 32), dtype=torch.float64)


def test_torchvision_alexnet_converts_to_equal_logits(noise):
    theirs = peer(torchvision.models.alexnet, noise, num_classes=10)
    ours = convert_state_dict("alexnet_torchvision", theirs.state_dict(), image_size=64)
    assert_same_logits(ours, theirs, torch.randn(2, 3, 64, 64))


def test_torchvision_googlenet_converts_to_equal_logits(noise):
    theirs = peer(torchvision.models.googlenet, noise, num_classes=10, aux_logits=False, init_weights=False)
    ours = convert_state_dict("googlenet_torchvision", theirs.state_dict(), image_size=64)
    assert not ours.zoo_config.aux_logits
    assert_same_logits(ours, theirs, torch.randn(2, 3, 64, 64))


def test_torchvision_googlenet_aux_heads_convert_to_equal_training_outputs(noise):
    theirs = peer(torchvision.models.googlenet, noise, num_classes=10, aux_logits=True, init_weights=False,
                  dropout=0.0, dropout_aux=0.0)
    ours = convert_state_dict("googlenet_torchvision", theirs.state_dict(), image_size=64, dropout=0.0, aux_dropout=0.0)
    assert ours.zoo_config.aux_logits
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        a, b = ours.train()(x), theirs.train()(x)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.aux1, b.aux_logits1, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.aux2, b.aux_logits2, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def googlenet_peer(noise) -> torch.nn.Module:
    return peer(torchvision.models.googlenet, noise, num_classes=10, aux_logits=False, init_weights=False)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_weights_files_convert_like_the_state_dict(fmt, googlenet_peer, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / f"googlenet.{fmt}"
    state = googlenet_peer.state_dict()
    if fmt == "pth":
        torch.save(state, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    ours = convert_state_dict("googlenet_torchvision", path, image_size=64)
    assert_same_logits(ours, copy.deepcopy(googlenet_peer), torch.randn(2, 3, 64, 64))


def test_zoo_convert_writes_a_bundle_that_loads_to_the_same_logits(googlenet_peer, tmp_path, capsys):
    torch.save(googlenet_peer.state_dict(), tmp_path / "g.pth")
    result = run_zoo(capsys, "convert", str(tmp_path / "g.pth"), "googlenet_torchvision", "--out", str(tmp_path / "b"),
                     "--set", "image_size=64")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert_same_logits(zoo.from_pretrained(tmp_path / "b"), copy.deepcopy(googlenet_peer), torch.randn(2, 3, 64, 64))


def test_foreign_keys_are_one_line_listing_what_differs(noise):
    resnet = peer(torchvision.models.resnet18, noise)
    with pytest.raises(ZooError) as err:
        convert_state_dict("vgg11", resnet.state_dict())
    message = str(err.value)
    assert "\n" not in message
    assert "missing features.0.weight" in message and "unexpected conv1.weight" in message


def test_vgg_weights_into_its_bn_variant_name_the_missing_norm_layers(noise):
    theirs = peer(torchvision.models.vgg11, noise, num_classes=10)
    with pytest.raises(ZooError, match=r"does not fit vgg11_bn: missing .*running_mean"):
        convert_state_dict("vgg11_bn", theirs.state_dict(), image_size=32)


def test_torchvision_alexnet_into_the_paper_alexnet_points_to_the_torchvision_variant(noise):
    theirs = peer(torchvision.models.alexnet, noise)
    with pytest.raises(ZooError, match=r"shape mismatch features\.0\.weight .*converts into 'alexnet_torchvision'"):
        convert_state_dict("alexnet", theirs.state_dict())


def test_models_outside_the_converted_families_are_refused():
    with pytest.raises(ZooError, match="vgg, alexnet and googlenet families; 'lenet5' is in 'lenet'"):
        convert_state_dict("lenet5", {"w": torch.zeros(1)})


@pytest.mark.parametrize("content, expected", [
    (b"not a checkpoint at all", "refused: the pickle asks to run code"),
    (None, "no such checkpoint file"),
])
def test_zoo_convert_bad_files_exit_2_with_one_line(content, expected, tmp_path, capsys):
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    result = run_zoo(capsys, "convert", str(path), "vgg11", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert result.err.startswith("error: ") and expected in result.err and result.err.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


def test_zoo_convert_bad_safetensors_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    result = run_zoo(capsys, "convert", str(path), "vgg11", "--out", str(tmp_path / "out"))
    assert result.code == 2 and "not a readable safetensors file" in result.err
    assert result.err.strip().count("\n") == 0


def test_convert_never_overwrites_an_existing_bundle(googlenet_peer, tmp_path, capsys):
    torch.save(googlenet_peer.state_dict(), tmp_path / "g.pth")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    result = run_zoo(capsys, "convert", str(tmp_path / "g.pth"), "googlenet_torchvision", "--out", str(tmp_path / "b"))
    assert result.code == 2
    assert (tmp_path / "b" / "keep.txt").read_text() == "mine"
