"""Datasets at x4 downsampling, for super-resolution: each image paired with its bicubic, antialiased quarter.

Ledig et al. train SRGAN on HR images and their bicubic x4 downsampling; at the zoo's sizes the
LR images are 7 x 7 (MNIST) and 8 x 8 (CIFAR-10), made by `torch.nn.functional.interpolate`
(bicubic, antialias=True, on the [0, 255] scale, rounded and clamped to uint8). Domain A is the
LR images, domain B the originals (labels kept). Deterministic, so a build is the same
everywhere; its checksums are recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.data import Dataset

from zoo_plugins.translation.pairs import TwoDomainSet

if TYPE_CHECKING:
    import torch

SCALE = 4


class Downsampled(TwoDomainSet):
    """A registered dataset downsampled x4; subclasses name the source and its shape."""

    pairings = ("paired",)

    def recipe(self) -> dict[str, Any]:
        return {"version": 1, "images": self.derived_from, "scale": SCALE, "downsampling": "bicubic, antialias"}

    def make_pairs(self, split: str, source: Dataset, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        return downsample(source.images, SCALE), source.images


def downsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """N x C x H x W uint8 -> N x C x H/scale x W/scale uint8, bicubic with antialiasing."""
    import torch
    import torch.nn.functional as F

    side = images.shape[-1] // scale
    small = F.interpolate(images.float(), size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    return small.round().clamp(0, 255).to(torch.uint8)


class MNISTx4(Downsampled):
    name = "mnist-x4"
    summary = "MNIST x4 downsampled (7x7, bicubic, antialiased) paired with the 28x28 originals"
    classes = tuple(str(i) for i in range(10))
    in_chans, image_size = 1, 28
    splits = {"train": 60000, "test": 10000}
    mean, std = (0.1307,), (0.3081,)
    source = "built by the zoo from mnist on first use (bicubic x4 downsampling)"
    directory = "mnist-x4"
    derived_from = "mnist"
    domains = ("mnist-lr", "mnist")
    source_chans, source_size = 1, 7


class CIFAR10x4(Downsampled):
    name = "cifar10-x4"
    summary = "CIFAR-10 x4 downsampled (8x8, bicubic, antialiased) paired with the 32x32 originals"
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    in_chans, image_size = 3, 32
    splits = {"train": 50000, "test": 10000}
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    source = "built by the zoo from cifar10 on first use (bicubic x4 downsampling)"
    directory = "cifar10-x4"
    derived_from = "cifar10"
    domains = ("cifar10-lr", "cifar10")
    source_chans, source_size = 3, 8
