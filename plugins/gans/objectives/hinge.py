"""Hinge: the margin loss of Geometric GAN and SN-GAN.

J. H. Lim, J. C. Ye. "Geometric GAN." arXiv:1705.02894, 2017.
T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida. "Spectral Normalization for Generative
Adversarial Networks." ICLR 2018 (arXiv:1802.05957), the hinge version of the adversarial loss
in section 4 (their eqs. 16 and 17).

D minimises E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] on its raw output: a real image scored
above 1 and a fake below -1 cost nothing, so D's gradient comes only from the samples inside
the margin (the support vectors of Lim & Ye's separating hyperplane). G minimises -E[D(G(z))],
as a Wasserstein critic's generator does. Logged: D's mean raw score on real and on fakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.objectives import Critique, Objective


class Hinge(Objective):
    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_out, fake_out = critique.real_out, critique.fake_out
        loss = F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()
        return loss, {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_out.mean()
