"""Relativistic average: RaSGAN, the log loss on how much more real than the other side's average.

A. Jolicoeur-Martineau. "The relativistic discriminator: a key element missing from standard
GAN." ICLR 2019 (arXiv:1807.00734), the relativistic average standard GAN (RaSGAN) of the
section on relativistic average GANs.

With C(x) D's raw output and the batch means standing for the expectations,
D~(x_r) = sigmoid(C(x_r) - E[C(x_f)]) and D~(x_f) = sigmoid(C(x_f) - E[C(x_r)]):

    L_D = -E[log D~(x_r)] - E[log(1 - D~(x_f))]
    L_G = -E[log D~(x_f)] - E[log(1 - D~(x_r))]

so G is also rewarded for making real images look less real than its fakes, which a standard
GAN's G cannot influence. Computed as binary cross-entropy on the logits C(x_r) - mean C(x_f)
(target 1) and C(x_f) - mean C(x_r) (target 0); G swaps the targets. G's step needs D's
output on the real slice (`g_uses_real`); D is frozen then, so that output carries no gradient
to D. Logged: the mean D~(x_r) and D~(x_f).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.objectives import Critique, Objective


class RelativisticAverage(Objective):
    g_uses_real = True

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_rel = critique.real_out - critique.fake_out.mean()
        fake_rel = critique.fake_out - critique.real_out.mean()
        loss = (F.binary_cross_entropy_with_logits(real_rel, torch.ones_like(real_rel))
                + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel)))
        return loss, {"d_real": torch.sigmoid(real_rel).mean().detach(),
                      "d_fake": torch.sigmoid(fake_rel).mean().detach()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        if real_out is None:
            raise ValueError("the relativistic G loss needs D's output on real images")
        fake_rel = fake_out - real_out.mean()
        real_rel = real_out - fake_out.mean()
        return (F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))
                + F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel)))
