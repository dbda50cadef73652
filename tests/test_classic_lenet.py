"""LeNet-5 as in LeCun et al. 1998: sparse C3, trainable subsampling, RBF output, scaled tanh."""

from __future__ import annotations

import torch

import zoo
from zoo_plugins.classic.lenet import C3_TABLE, RBFOutput, SparseConv2d, Subsampling, rbf_centres


def test_c3_output_maps_depend_only_on_their_table_i_inputs():
    conv = SparseConv2d(6, C3_TABLE, 5)
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = conv(x)
    for o, inputs in enumerate(C3_TABLE):
        (grad,) = torch.autograd.grad(out[0, o].sum(), x, retain_graph=True)
        reached = {i for i in range(6) if grad[0, i].abs().sum() > 0}
        assert reached == set(inputs), f"C3 map {o}"


def test_c3_has_60_kernels_and_1516_parameters():
    conv = SparseConv2d(6, C3_TABLE, 5)
    assert conv.weight.shape == (60, 5, 5)
    assert sum(p.numel() for p in conv.parameters()) == 1_516


def test_subsampling_is_sum_of_four_times_coefficient_plus_bias():
    layer = Subsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    out = layer(x)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0, 0, 0].item() == 0.5 * (0 + 1 + 4 + 5) + 1.0
    assert out[0, 1, 1, 1].item() == -2.0 * (26 + 27 + 30 + 31)


def test_rbf_output_prefers_the_class_whose_bitmap_is_closest():
    rbf = RBFOutput(10)
    centres = rbf_centres(10)
    assert set(centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(c.tolist()) for c in centres}) == 10, "every digit has its own code"
    noisy = centres + 0.3 * torch.randn(10, 84)
    assert torch.equal(rbf(noisy).argmax(1), torch.arange(10))
    torch.testing.assert_close(rbf(centres[:1])[0, 0], torch.tensor(0.0))


def test_rbf_centres_are_fixed_not_trained():
    model = zoo.create_model("lenet5_classic")
    names = dict(model.named_buffers())
    assert any(n.endswith("centres") for n in names)
    assert not any("centres" in n for n, _ in model.named_parameters())


def test_classic_uses_scaled_tanh_and_modern_relu():
    classic, modern = zoo.create_model("lenet5_classic"), zoo.create_model("lenet5")
    kinds = {type(m).__name__ for m in classic.modules()}
    assert "ScaledTanh" in kinds and "ReLU" not in kinds and "MaxPool2d" not in kinds
    assert {"ReLU", "MaxPool2d"} <= {type(m).__name__ for m in modern.modules()}


def test_modern_lenet5_state_dict_layout_is_unchanged():
    model = zoo.create_model("lenet5")
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        "features.0.weight": (6, 1, 5, 5), "features.0.bias": (6,),
        "features.3.weight": (16, 6, 5, 5), "features.3.bias": (16,),
        "classifier.1.weight": (120, 400), "classifier.1.bias": (120,),
        "classifier.4.weight": (84, 120), "classifier.4.bias": (84,),
        "classifier.6.weight": (10, 84), "classifier.6.bias": (10,),
    }


def test_classic_paper_init_is_uniform_within_2_4_over_fan_in():
    model = zoo.create_model("lenet5_classic")
    c5 = model.features[8]
    bound = 2.4 / (16 * 25)
    assert c5.weight.abs().max() <= bound and c5.weight.abs().max() > 0.9 * bound
