"""The default transform, done on whole batches: uint8 images -> the model's input tensor.

The model's config fixes the input (`image_size`, `in_chans`); the data are whatever they are
(28 x 28 grey MNIST, 32 x 32 RGB CIFAR-10, ...). One call converts a B x C x H x W uint8 batch:
to float in [0, 1], normalised per channel, channels matched, then padded or resized. No
per-image Python work, so the input pipeline costs a few tensor ops per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

# ITU-R 601 luma weights, the ones PIL's convert("L") uses.
_LUMA = (0.299, 0.587, 0.114)
PAD_LIMIT = 4  # pixels a side: 'auto' pads up to this (LeNet's 28 -> 32), resizes beyond


def prepare_batch(
    images: torch.Tensor,
    image_size: int | tuple[int, int],
    in_chans: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    fit: Literal["auto", "pad", "resize"] = "auto",
) -> torch.Tensor:
    """B x C x H x W uint8 -> B x in_chans x image_size x image_size float32.

    Padding happens in pixel space, so the border is black (MNIST's background, as in
    LeNet-5's 32 x 32 field and torchvision's `Pad`). `mean`/`std` ([0, 1] scale) are given per
    model input channel (what a zoo bundle records) or per channel of `images`: the values are
    normalised after the channels are matched in the first case, before in the second (a bundle
    from before statistics followed the model: RGB statistics of a grey model). Grey -> RGB
    repeats exactly the same normalised values either way.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"prepare_batch expects a B x C x H x W uint8 tensor, got {images.dtype} {tuple(images.shape)}")
    x = images.to(torch.float32).div_(255.0)
    x = fit_size(x, _pair(image_size), fit)
    if mean is None or std is None:
        return match_channels(x, in_chans)
    if len(mean) == x.shape[1]:
        return match_channels(_normalize(x, mean, std), in_chans)
    if len(mean) == in_chans:
        return _normalize(match_channels(x, in_chans), mean, std)
    raise ValueError(f"{len(mean)} normalisation statistics fit neither the {x.shape[1]}-channel images nor the "
                     f"model's {in_chans} channels")


def _normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def match_channels(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """1 -> k repeats the grey channel; 3 -> 1 takes luma; otherwise the channel counts must agree."""
    c = x.shape[1]
    if c == in_chans:
        return x
    if c == 1:
        return x.expand(-1, in_chans, -1, -1).contiguous()
    if c == 3 and in_chans == 1:
        w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot turn {c}-channel images into the model's {in_chans} channels")


def fit_size(x: torch.Tensor, size: tuple[int, int], fit: str = "auto") -> torch.Tensor:
    """Pad (centred, zeros) or resize (bilinear, antialiased when shrinking) B x C x H x W to `size`."""
    h, w = x.shape[-2:]
    th, tw = size
    if (h, w) == (th, tw):
        return x
    grow_h, grow_w = th - h, tw - w
    small_pad = 0 <= grow_h <= 2 * PAD_LIMIT and 0 <= grow_w <= 2 * PAD_LIMIT
    if fit == "pad" or (fit == "auto" and small_pad):
        if grow_h < 0 or grow_w < 0:
            raise ValueError(f"cannot pad {h}x{w} images to the smaller {th}x{tw}; use fit='resize'")
        top, left = grow_h // 2, grow_w // 2
        return F.pad(x, (left, grow_w - left, top, grow_h - top))
    shrinking = th < h or tw < w
    return F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=shrinking)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
