"""edges2fashion: Fashion-MNIST images paired with their edge maps, the small cousin of edges2shoes.

Isola et al. made edges2shoes with HED edge detection; at 28 x 28 the zoo uses the Sobel operator:
the gradient magnitude of the image on the [0, 1] scale, white (255) where it exceeds `THRESHOLD`,
black elsewhere. A thin, binary sketch of each garment's outline and inner seams, computed
deterministically (no draw), so a build is the same everywhere; its checksums are recorded.

Domain A is the edge maps, domain B the Fashion-MNIST images (labels kept): paired by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.data import Dataset

from zoo_plugins.translation.pairs import TwoDomainSet

if TYPE_CHECKING:
    import torch

THRESHOLD = 1.5  # on the Sobel magnitude: a 0 -> 1 step gives 4; at 1.5 outlines and seams stay, weave texture goes

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


class Edges2Fashion(TwoDomainSet):
    name = "edges2fashion"
    summary = "Fashion-MNIST images paired with their Sobel edge maps (magnitude > 1.5, binary); 28x28 grey"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
    in_chans, image_size = 1, 28
    splits = {"train": 60000, "test": 10000}
    mean, std = (0.2860,), (0.3530,)  # Fashion-MNIST's: the B images are its own
    source = "built by the zoo from fashion-mnist on first use (Sobel edges, thresholded)"
    directory = "edges2fashion"
    derived_from = "fashion-mnist"
    domains = ("edges", "fashion-mnist")
    source_chans, source_size = 1, 28

    def recipe(self) -> dict[str, Any]:
        return {"version": 1, "images": "fashion-mnist", "edges": "sobel 3x3 magnitude on [0, 1], zero padding",
                "threshold": THRESHOLD}

    def make_pairs(self, split: str, source: Dataset, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        return sobel_edges(source.images), source.images


def sobel_edges(images: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W uint8 -> N x 1 x H x W uint8 edge maps (255 on an edge, 0 elsewhere)."""
    import torch
    import torch.nn.functional as F

    x = images.float() / 255.0
    sobel = torch.tensor(SOBEL_X)
    kernels = torch.stack([sobel, sobel.T])[:, None]  # 2 x 1 x 3 x 3
    grad = F.conv2d(x, kernels, padding=1)
    return (grad.square().sum(1, keepdim=True).sqrt() > THRESHOLD).to(torch.uint8) * 255
