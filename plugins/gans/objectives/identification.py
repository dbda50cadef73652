"""Identification: MAD-GAN's discriminator names the generator of each fake.

A. Ghosh, V. Kulharia, V. Namboodiri, P. Torr, P. Dokania. "Multi-Agent Diverse Generative
Adversarial Networks." CVPR 2018 (arXiv:1704.02906).

With k generators D has k + 1 softmax outputs: k for "made by generator i", the last for
"real". D minimises the cross-entropy of those k + 1 classes (eq. 3, with the one-hot targets
delta of section 3.1), each class weighted alike: the mean over one real batch and one batch
per generator, as in the authors' code; here a slice of n fakes holds n / k per generator, so
the fake term is weighted k. Each generator wants its samples classed as real: G minimises the
non-saturating -log D_{k+1}(G_i(z)) (section 3.1). With `label_smoothing` s the real class's
target is smoothed as torch's cross_entropy does (s spread over the k + 1 classes).

Logged: `d_real` and `d_fake`, D's mean probability of "real" on real images and on fakes, and
`identification`, the share of fakes whose generator D names right (chance 1 / k).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.objectives import Critique, Objective


class Identification(Objective):
    options = ("label_smoothing",)
    identifies_generators = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_out, fake_out, which = critique.real_out, critique.fake_out, critique.fake_condition
        k = real_out.shape[1] - 1  # the last output is "real"
        real_target = torch.full((len(real_out),), k, device=real_out.device)
        loss = (F.cross_entropy(real_out, real_target, label_smoothing=self.label_smoothing)
                + k * F.cross_entropy(fake_out, which)) / (k + 1)
        return loss, {"d_real": real_out.softmax(1)[:, k].mean().detach(),
                      "d_fake": fake_out.softmax(1)[:, k].mean().detach(),
                      "identification": (fake_out[:, :k].argmax(1) == which).float().mean()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        k = fake_out.shape[1] - 1
        return F.cross_entropy(fake_out, torch.full((len(fake_out),), k, device=fake_out.device))
