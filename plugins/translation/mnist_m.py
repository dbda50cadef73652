"""mnist-m: MNIST digits blended into colour crops, by MNIST-M's recipe (Ganin et al. 2016, section 5.1).

Ganin et al. blend each MNIST digit into a random patch of a BSDS500 photograph: the digit is
binarised (pixels > 0 become 255) and each channel of the output is |patch - digit|. BSDS500
cannot be fetched here, so the patches are random 28 x 28 crops of CIFAR-10 images (train digits
on CIFAR-10's train images, test digits on its test images), which the zoo fetches; said on every
card and in `zoo data list`. Every draw (which image, where the crop falls) comes from a generator
seeded per split, so a build is the same everywhere and its checksums are recorded.

Domain A is MNIST, domain B MNIST-M; `images[i]` is made from `sources[i]`, the same digit index,
so the set serves paired and unpaired views. Labels are MNIST's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.data import Dataset

from zoo_plugins.translation.pairs import TwoDomainSet

if TYPE_CHECKING:
    import torch

SEEDS = {"train": 2016, "test": 2017}
BACKGROUND = "cifar10 (in place of BSDS500, which cannot be fetched here)"


class MNISTM(TwoDomainSet):
    name = "mnist-m"
    summary = ("MNIST digits blended into random CIFAR-10 crops by MNIST-M's recipe (|crop - digit|); "
               "CIFAR-10 in place of BSDS500, which cannot be fetched here; paired with MNIST")
    classes = tuple(str(i) for i in range(10))
    in_chans, image_size = 3, 28
    splits = {"train": 60000, "test": 10000}
    mean, std = (0.4929, 0.4901, 0.4679), (0.2438, 0.2409, 0.2616)  # of the train split, as built here
    source = ("built by the zoo from mnist and cifar10 on first use (Ganin et al.'s blend; CIFAR-10 in place of "
              "BSDS500)")
    directory = "mnist-m"
    derived_from = "mnist"
    domains = ("mnist", "mnist-m")
    source_chans, source_size = 1, 28

    def recipe(self) -> dict[str, Any]:
        return {"version": 1, "digits": "mnist", "backgrounds": BACKGROUND, "crop": 28, "binarise": "> 0 -> 255",
                "blend": "|crop - digit| per channel", "seeds": SEEDS}

    def make_pairs(self, split: str, source: Dataset, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        from zoo.data import load_dataset

        backgrounds = load_dataset("cifar10", split, root=root, val_size=0).images  # M x 3 x 32 x 32
        return source.images, blend(source.images, backgrounds, torch.Generator().manual_seed(SEEDS[split]))


def blend(digits: torch.Tensor, backgrounds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """N x 1 x 28 x 28 digits, M x 3 x H x W backgrounds (uint8) -> N x 3 x 28 x 28: |crop - binarised digit|."""
    import torch

    n, side = len(digits), digits.shape[-1]
    pick = torch.randint(len(backgrounds), (n,), generator=generator)
    dy = torch.randint(backgrounds.shape[-2] - side + 1, (n,), generator=generator)
    dx = torch.randint(backgrounds.shape[-1] - side + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(side))[:, None, :, None]  # N x 1 x 28 x 1
    cols = (dx[:, None] + torch.arange(side))[:, None, None, :]  # N x 1 x 1 x 28
    chans = torch.arange(backgrounds.shape[1])[None, :, None, None]
    crops = backgrounds[pick[:, None, None, None], chans, rows, cols].to(torch.int16)  # N x 3 x 28 x 28
    digit = (digits > 0).to(torch.int16) * 255
    return (crops - digit).abs().to(torch.uint8)
