"""`prepare_batch`, the default transform from uint8 data to a model's input: the numbers."""

from __future__ import annotations

import pytest
import torch

from zoo.data import prepare_batch

MEAN, STD = (0.1307,), (0.3081,)


def _grey(n: int = 4, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_mnist_to_lenet_pads_2px_of_black_then_normalises():
    images = _grey()
    x = prepare_batch(images, image_size=32, in_chans=1, mean=MEAN, std=STD)
    assert x.shape == (4, 1, 32, 32) and x.dtype == torch.float32
    expected_inside = (images.float() / 255 - MEAN[0]) / STD[0]
    assert torch.allclose(x[:, :, 2:30, 2:30], expected_inside, atol=1e-6)
    black = (0 - MEAN[0]) / STD[0]
    border = torch.cat([x[:, :, :2].flatten(), x[:, :, 30:].flatten(), x[:, :, :, :2].flatten(), x[:, :, :, 30:].flatten()])
    assert torch.allclose(border, torch.full_like(border, black))


def test_without_statistics_values_are_scaled_to_unit_range():
    images = torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)
    x = prepare_batch(images, image_size=2, in_chans=1)
    assert x.flatten().tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])


def test_grey_to_rgb_repeats_the_normalised_channel():
    x = prepare_batch(_grey(), image_size=28, in_chans=3, mean=MEAN, std=STD)
    assert x.shape == (4, 3, 28, 28)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_rgb_to_grey_takes_luma():
    images = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    images[:, 0] = 255  # pure red
    x = prepare_batch(images, image_size=8, in_chans=1)
    assert x.shape == (1, 1, 8, 8) and torch.allclose(x, torch.full_like(x, 0.299))


def test_large_target_is_a_bilinear_resize_not_a_pad():
    images = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    x = prepare_batch(images, image_size=64, in_chans=1)
    assert x.shape == (2, 1, 64, 64) and torch.allclose(x, torch.full_like(x, 200 / 255))


def test_shrinking_is_antialiased_so_the_average_survives():
    stripes = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    stripes[..., ::4] = 255  # every 4th column: plain bilinear 64 -> 16 samples between them and sees 0
    x = prepare_batch(stripes, image_size=16, in_chans=1)[..., 1:-1]  # interior columns
    assert torch.allclose(x, torch.full_like(x, 0.25), atol=0.01)


def test_fit_pad_and_resize_can_be_forced():
    images = _grey(size=28)
    padded = prepare_batch(images, 64, 1, fit="pad")
    assert padded.shape == (4, 1, 64, 64) and padded[:, :, :18].abs().sum() == 0
    resized = prepare_batch(images, 32, 1, fit="resize")
    assert resized[:, :, 0].abs().sum() > 0  # no black border when resizing
    with pytest.raises(ValueError, match="cannot pad 28x28 images to the smaller 16x16"):
        prepare_batch(images, 16, 1, fit="pad")


def test_rectangular_input_sizes_are_honoured():
    x = prepare_batch(_grey(), image_size=(32, 40), in_chans=1)
    assert x.shape == (4, 1, 32, 40)


def test_non_uint8_input_and_impossible_channels_are_refused():
    with pytest.raises(ValueError, match="expects a B x C x H x W uint8 tensor"):
        prepare_batch(torch.zeros(2, 1, 28, 28), 28, 1)
    with pytest.raises(ValueError, match="cannot turn 3-channel images into the model's 2 channels"):
        prepare_batch(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 8, 2)


def test_input_batch_is_not_modified():
    images = _grey()
    before = images.clone()
    prepare_batch(images, 32, 3, mean=MEAN, std=STD)
    assert torch.equal(images, before)
