"""GoogLeNet's auxiliary classifiers: weight 0.3 in training, gone at eval."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import cross_entropy

import zoo


def small_googlenet(**fields):
    torch.manual_seed(0)
    return zoo.create_model("googlenet", width=0.125, image_size=32, num_classes=10, **fields)


def test_training_output_carries_both_aux_heads_and_eval_only_the_logits():
    model = small_googlenet()
    x = torch.randn(3, 3, 32, 32)
    out = model.train()(x)
    assert [t.shape for t in (out.logits, out.aux1, out.aux2)] == [(3, 10)] * 3
    logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (3, 10)


def test_loss_adds_each_aux_loss_with_weight_0_3():
    model = small_googlenet().train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    out = model(x)
    expected = cross_entropy(out.logits, y) + 0.3 * (cross_entropy(out.aux1, y) + cross_entropy(out.aux2, y))
    assert model.config.aux_weight == 0.3
    torch.testing.assert_close(model.loss(out, y), expected)
    assert model.loss(out, y) > cross_entropy(out.logits, y)


def test_aux_heads_get_gradients_in_training_and_play_no_part_at_eval():
    model = small_googlenet(dropout=0.0, aux_dropout=0.0)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    model.train()
    model.loss(model(x), y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.aux1.parameters())
    model.zero_grad(set_to_none=True)
    model.eval()
    model.loss(model(x), y).backward()
    assert all(p.grad is None for p in model.aux2.parameters())
    with torch.no_grad():
        for p in model.aux1.parameters():
            p.add_(1.0)
        before = model(x).clone()
        for p in model.aux2.parameters():
            p.mul_(-3.0)
        torch.testing.assert_close(model(x), before)


def test_aux_weight_zero_leaves_the_main_loss():
    model = small_googlenet(aux_weight=0.0).train()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([4, 5])
    out = model(x)
    torch.testing.assert_close(model.loss(out, y), cross_entropy(out.logits, y))


def test_without_aux_heads_training_returns_plain_logits():
    model = small_googlenet(aux_logits=False).train()
    assert model.aux1 is None and model.aux2 is None
    assert isinstance(model(torch.randn(2, 3, 32, 32)), torch.Tensor)


@pytest.mark.parametrize("size, pool", [(224, torch.nn.AvgPool2d), (32, torch.nn.AdaptiveAvgPool2d)])
def test_aux_heads_use_the_papers_5x5_stride_3_pool_where_it_fits(size, pool):
    with torch.device("meta"):
        model = zoo.create_model("googlenet", image_size=size)
    assert isinstance(model.aux1.pool, pool)
    if pool is torch.nn.AvgPool2d:
        assert (model.aux1.pool.kernel_size, model.aux1.pool.stride) == (5, 3)
