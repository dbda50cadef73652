"""Training augmentation on whole batches (`data.augment=flip-crop`) and timm's mixup/cutmix.

flip-crop is the CIFAR-10 standard (torchvision's RandomCrop(32, padding=4) and
RandomHorizontalFlip): pad 4 px of zeros a side, crop back to the image's size at a random
offset, mirror half the images. It runs on a B x C x H x W uint8 batch with one gather, no
per-image Python, before the task converts the batch (so the padding is black, as
torchvision's). Its randomness comes from a generator the engine seeds from (seed, epoch,
batch) (`batch_generator`): a resumed run draws the same crops, and under DDP every process
draws the whole batch's and keeps its own rows, so the crops do not depend on the number of
processes. The streaming path applies it the same way to the batches its workers decode.

`augment=imagenet` is per image (timm's `create_transform`), on the streaming path:
zoo.data.streaming. Mixup and cutmix (`data.mixup`, `data.cutmix`) are timm's `Mixup` on the
task's float batch (zoo.tasks.classification).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PAD = 4


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """The generator of one batch's augmentation: a function of its place in the run only."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + batch) % (1 << 63))


def flip_crop_params(n: int, generator: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """n x 3 int64: (top, left, mirrored) of each image, drawn from `generator`."""
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    mirrored = (torch.rand(n, generator=generator) < 0.5).long().unsqueeze(1)
    return torch.cat([offsets, mirrored], 1)


def flip_crop(images: torch.Tensor, params: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """B x C x H x W (any dtype) -> the same shape: zero-padded by `pad`, cropped at `params`' offsets, mirrored
    where `params` says (one gather for the whole batch)."""
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    top, left, mirrored = params[:, 0:1], params[:, 1:2], params[:, 2:3].bool()
    rows = top + torch.arange(h)  # B x H
    cols = left + torch.arange(w)  # B x W
    cols = torch.where(mirrored, cols.flip(1), cols)
    return padded[torch.arange(b).view(b, 1, 1, 1), torch.arange(c).view(1, c, 1, 1),
                  rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


@contextlib.contextmanager
def numpy_seeded(seed: int) -> Iterator[None]:
    """numpy's global RNG (timm's Mixup draws from it) seeded inside, restored after."""
    import numpy as np

    state = np.random.get_state()
    np.random.seed(seed % (1 << 32))
    try:
        yield
    finally:
        np.random.set_state(state)
