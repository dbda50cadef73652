"""Pieces pix2pix and CycleGAN share: the PatchGAN discriminator and CycleGAN's history of fakes.

PatchGAN (Isola et al. 2017, section 3.2.2): a fully convolutional D whose every output judges one
patch of the image. The 70 x 70 PatchGAN for 256 px is C64-C128-C256-C512 (4 x 4 convs, stride 2
but the last, instance/batch norm but the first, LeakyReLU 0.2), then a 1-channel conv; each output
sees 70 px, about a quarter of the side. Scaled to 28-32 px: C64-C128, both stride 2, then a
stride-1 1-channel conv, so a 28 px image gives 6 x 6 outputs, each seeing 22 x 22 px (the two
deeper layers would see past the whole image). The outputs are flattened to N x P logits, the shape
the registered objectives read.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchGAN(nn.Module):
    """in_chans -> N x P patch logits; `norm` is 'batch' (pix2pix) or 'instance' (CycleGAN)."""

    def __init__(self, in_chans: int, base: int = 64, norm: str = "batch") -> None:
        super().__init__()
        layer = nn.BatchNorm2d if norm == "batch" else lambda c: nn.InstanceNorm2d(c, affine=True)
        self.net = nn.Sequential(
            nn.Conv2d(in_chans, base, 4, 2, 1), nn.LeakyReLU(0.2),  # N x 64 x 14 x 14
            nn.Conv2d(base, base * 2, 4, 2, 1), layer(base * 2), nn.LeakyReLU(0.2),  # N x 128 x 7 x 7
            nn.Conv2d(base * 2, 1, 4, 1, 1),  # N x 1 x 6 x 6
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ImagePool:
    """Shrivastava et al. 2017's history of generated images (CycleGAN section 4, size 50): D is shown, for each
    new fake, either it or, with probability one half once the pool is full, a stored older one (which the new
    fake replaces). The pool fills with the first `size` fakes; the draws come from the global generator, which
    checkpoints carry, and are made on the device without reading anything back, so the draws of one batch
    read the pool as it stood before the batch (the reference code walks the batch one image at a time; with
    batches smaller than the pool that changes which old images return, not how many). The pool itself is not
    checkpointed: a resumed run refills it."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: torch.Tensor | None = None  # size x C x H x W once full
        self.filled = 0

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = fakes.new_zeros(self.size, *fakes.shape[1:])
        take = min(self.size - self.filled, len(fakes))  # still filling: these go in and are shown as they are
        if take:
            self.images[self.filled:self.filled + take] = fakes[:take]
            self.filled += take
        rest = fakes[take:]
        if not len(rest):
            return fakes
        swap = (torch.rand(len(rest)) < 0.5).to(fakes.device).view(-1, *[1] * (fakes.dim() - 1))
        slots = torch.randint(self.size, (len(rest),)).to(fakes.device)
        old = self.images[slots]
        self.images[slots] = torch.where(swap, rest, old)
        return torch.cat([fakes[:take], torch.where(swap, old, rest)])
