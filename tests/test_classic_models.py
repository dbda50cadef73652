"""Classic CNNs: parameter counts from the papers, feature-map sizes, every size/channel
combination, adaptations that the config shows, one training step each."""

from __future__ import annotations

import json

import pytest
import torch

import zoo
from cli_runner import run_zoo
from zoo.errors import ConfigError

FAMILIES = ("lenet", "alexnet", "zfnet", "nin", "vgg", "googlenet")
MODELS = [name for family in FAMILIES for name in zoo.list_models(family=family)]

# Parameter counts at the default config (native size, 1000 classes; LeNet/NiN 10 classes).
PAPER_COUNTS = {
    "lenet5_classic": 60_000,        # LeCun et al. 1998, section II.B
    "lenet5": 61_706,
    "vgg11": 132_863_336,            # Table 2: 133 M
    "vgg11_lrn": 132_863_336,        # 133 M (LRN has no parameters)
    "vgg13": 133_047_848,            # 133 M
    "vgg16_c": 133_638_952,          # 134 M
    "vgg16": 138_357_544,            # 138 M
    "vgg19": 143_667_240,            # 144 M
    "alexnet_torchvision": 61_100_840,
    "googlenet_torchvision": 6_624_904,
    "nin": 966_986,
}


def tiny(name: str, **fields) -> dict:
    """Overrides that shrink a model's width (where its config has one) for fast tests."""
    cls = type(zoo.get_config(name))
    small = {"width": 0.125, "hidden": 32}
    return {**{k: v for k, v in small.items() if k in cls.model_fields}, **fields}


def meta_model(name: str, **overrides):
    with torch.device("meta"):
        return zoo.create_model(name, **overrides)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_classic_families_are_registered_with_their_default_members():
    assert {zoo.model_info(f).name for f in FAMILIES} == {"lenet5", "alexnet", "zfnet", "nin", "vgg16", "googlenet"}
    assert set(PAPER_COUNTS) <= set(MODELS)
    assert len([m for m in MODELS if m.startswith("vgg")]) == 11


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_parameter_count_matches_the_paper(name):
    assert n_params(meta_model(name)) == PAPER_COUNTS[name]


def test_lenet5_classic_layers_have_the_papers_parameter_counts():
    model = meta_model("lenet5_classic")
    per_layer = [sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()]
    assert [n for n in per_layer if n] == [156, 12, 1_516, 32, 48_120, 10_164]


def test_alexnet_two_gpu_split_has_the_papers_sixty_million():
    # Hand count of section 3.5: conv2, conv4, conv5 see half of the previous maps.
    assert n_params(meta_model("alexnet", groups=2)) == 60_965_224
    assert n_params(meta_model("alexnet")) == 62_378_344


def test_zfnet_parameter_count_follows_figure_3():
    convs = 3 * 96 * 49 + 96 + 96 * 256 * 25 + 256 + 256 * 384 * 9 + 384 + 384 * 384 * 9 + 384 + 384 * 256 * 9 + 256
    fcs = 9216 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert n_params(meta_model("zfnet")) == convs + fcs


@pytest.mark.parametrize("name", [m for m in MODELS if m.endswith("_bn")])
def test_vgg_bn_variants_count_what_torchvision_counts(name):
    import torchvision

    with torch.device("meta"):
        peer = getattr(torchvision.models, name.replace("16_c", "16"))()
    extra = 0
    if name == "vgg16_c_bn":  # C = D with three 3×3 convs replaced by 1×1 convs
        extra = -(256 * 256 + 512 * 512 * 2) * 8
    assert n_params(meta_model(name)) == n_params(peer) + extra


def _feature_sides(model, size: int, layer_type) -> list[int]:
    sides = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
             for m in model.modules() if isinstance(m, layer_type)]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return sides


def test_alexnet_maps_are_55_27_13_13_13_6_at_224():
    assert _feature_sides(meta_model("alexnet"), 224, torch.nn.Conv2d) == [55, 27, 13, 13, 13]
    assert _feature_sides(meta_model("alexnet"), 224, torch.nn.MaxPool2d) == [27, 13, 6]


def test_zfnet_maps_are_110_55_26_13_13_13_6_at_224():
    assert _feature_sides(meta_model("zfnet"), 224, torch.nn.Conv2d) == [110, 26, 13, 13, 13]
    assert _feature_sides(meta_model("zfnet"), 224, torch.nn.MaxPool2d) == [55, 13, 6]


def test_googlenet_output_sizes_follow_table_1():
    from zoo_plugins.classic.googlenet import Inception

    model = meta_model("googlenet")
    channels = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: channels.append((out.shape[1], out.shape[-1])))
             for m in model.modules() if isinstance(m, Inception)]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    assert channels == [(256, 28), (480, 28), (512, 14), (512, 14), (512, 14), (528, 14), (832, 14),
                        (832, 7), (1024, 7)]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("chans", [1, 3])
def test_model_runs_at_small_sizes_with_one_or_three_channels(name, size, chans):
    model = zoo.create_model(name, **tiny(name, image_size=size, in_chans=chans, num_classes=10)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, chans, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["alexnet", "zfnet", "nin", "googlenet", "googlenet_torchvision", "vgg11_lrn"])
def test_model_runs_at_its_native_size(name):
    config = zoo.get_config(name, **tiny(name))
    model = zoo.create_model(name, config).eval()
    with torch.no_grad():
        out = model(torch.randn(1, *config.input_shape()))
    assert out.shape == (1, config.num_classes)


@pytest.mark.parametrize("name, size, field, value", [
    ("alexnet", 28, "stem_stride", 1), ("alexnet", 224, "stem_stride", 4),
    ("zfnet", 32, "stride", 1), ("zfnet", 224, "stride", 2),
    ("vgg16", 28, "ceil_pool", True), ("vgg16", 224, "ceil_pool", False),
    ("vgg16", 32, "head_grid", 1), ("vgg16", 224, "head_grid", 7),
    ("googlenet", 28, "stem_stride", 1), ("googlenet", 32, "aux_pool", "adaptive"), ("googlenet", 224, "aux_pool", "window"),
    ("lenet5", 28, "c1_padding", 2), ("lenet5_classic", 32, "c1_padding", 0),
])
def test_small_input_adaptation_is_a_visible_config_value(name, size, field, value):
    assert getattr(zoo.get_config(name, image_size=size), field) == value


def test_zoo_build_prints_the_adapted_geometry(capsys):
    result = run_zoo(capsys, "build", "alexnet", "--set", "image_size=28", "--set", "in_chans=1", "--set", "num_classes=10",
                 "--set", "width=0.25", "--set", "hidden=64", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["config"]["stem_stride"] == 1 and doc["output_shape"] == [1, 10]


def test_geometry_that_cannot_fit_is_one_clear_config_error(capsys):
    with pytest.raises(ConfigError, match="stem_stride=4 leaves no feature map"):
        zoo.get_config("alexnet", image_size=28, stem_stride=4)
    result = run_zoo(capsys, "build", "vgg16", "--set", "image_size=28", "--set", "ceil_pool=false")
    assert result.code == 2
    assert result.err.startswith("error: ") and result.err.strip().count("\n") == 0 and "ceil_pool" in result.err


@pytest.mark.parametrize("name", MODELS)
def test_one_training_step_reaches_every_parameter_and_lowers_the_loss(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, **tiny(name, image_size=28, in_chans=1, num_classes=10, dropout=0.0)).train()
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    loss_fn = getattr(model, "loss", lambda out, target: torch.nn.functional.cross_entropy(out, target))
    before = loss_fn(model(x), y)
    before.backward()
    params = list(model.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params), "a parameter got no gradient"
    # A short step along the normalised gradient: the first-order decrease dominates.
    norm = torch.sqrt(sum((p.grad**2).sum() for p in params))
    with torch.no_grad():
        for p in params:
            p -= 1e-3 * p.grad / norm
        after = loss_fn(model(x), y)
    assert torch.isfinite(before) and after < before


@pytest.mark.parametrize("name, field, value", [
    ("alexnet", "stem_stride", 0), ("zfnet", "stride", 0), ("googlenet", "stem_stride", 0),
    ("vgg16", "image_size", "x"), ("googlenet", "variant", 3), ("alexnet", "groups", 3),
    ("vgg16", "configuration", "F"), ("lenet5", "activation", "swish"), ("nin", "width", 0),
])
def test_bad_config_values_are_config_errors_naming_the_field(name, field, value):
    with pytest.raises(ConfigError, match=f"{field}="):
        zoo.get_config(name, **{field: value})
