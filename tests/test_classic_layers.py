"""zoo.layers: the activation factory, LeCun's scaled tanh, maxout, LRN and init schemes."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch

from zoo.config import Activation, Init
from zoo.errors import ConfigError
from zoo.layers import BentIdentity, Maxout, ScaledTanh, activation_layer, init_weights, krizhevsky_lrn


@pytest.mark.parametrize("name", get_args(Activation))
def test_every_config_activation_builds_and_keeps_the_shape(name):
    layer = activation_layer(name)
    x = torch.randn(2, 6, 3, 3)
    out = layer(x.clone())
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_activations_are_the_classes_timm_would_give_and_the_rest_from_zoo():
    from timm.layers import get_act_layer

    for name in ("relu", "leaky_relu", "elu", "selu", "prelu", "tanh", "sigmoid"):
        assert type(activation_layer(name)) is get_act_layer(name), name
    assert type(activation_layer("bent_identity")) is BentIdentity


def test_building_a_relu_model_does_not_import_timm():
    import subprocess
    import sys

    code = "import sys, zoo; zoo.create_model('vgg11', width=0.125, hidden=8); print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_activation_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown activation 'swishy'"):
        activation_layer("swishy")


def test_scaled_tanh_maps_plus_minus_one_to_plus_minus_one():
    f = ScaledTanh()
    torch.testing.assert_close(f(torch.tensor([1.0, -1.0, 0.0])), torch.tensor([1.0, -1.0, 0.0]), atol=1e-4, rtol=0)


def test_bent_identity_values():
    f = BentIdentity()
    x = torch.tensor([0.0, 1.0, -2.0])
    expected = x + (torch.sqrt(x**2 + 1) - 1) / 2
    torch.testing.assert_close(f(x), expected)
    assert f(torch.tensor(0.0)).item() == 0.0


def test_maxout_takes_the_max_of_each_unit_and_its_neighbour():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.5]])
    assert Maxout()(x).tolist() == [[5.0, 5.0, 0.5, 1.0]]


def test_krizhevsky_lrn_follows_the_papers_formula():
    x = torch.randn(1, 7, 2, 2)
    out = krizhevsky_lrn()(x)
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    c = 3
    window = (x[0, c - n // 2:c + n // 2 + 1] ** 2).sum(0)
    torch.testing.assert_close(out[0, c], x[0, c] / (k + alpha * window) ** beta)


@pytest.mark.parametrize("scheme", [s for s in get_args(Init) if s != "paper"])
def test_init_schemes_give_their_expected_spread(scheme):
    layer = torch.nn.Linear(400, 300)
    init_weights([layer], scheme, "relu")
    std = layer.weight.std().item()
    gain = math.sqrt(2.0)
    expected = {"kaiming_normal": gain / math.sqrt(400), "xavier_uniform": gain * math.sqrt(2.0 / 700),
                "xavier_normal": gain * math.sqrt(2.0 / 700), "orthogonal": gain / math.sqrt(400)}[scheme]
    assert abs(std - expected) / expected < 0.1
    assert layer.bias.abs().sum() == 0


def test_unknown_init_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown init 'magic'"):
        init_weights([torch.nn.Linear(2, 2)], "magic")
