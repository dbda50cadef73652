"""Wasserstein with weight clipping: WGAN's critic.

M. Arjovsky, S. Chintala, L. Bottou. "Wasserstein GAN." ICML 2017 (arXiv:1701.07875).

The critic f (D without a sigmoid) maximises E[f(x)] - E[f(G(z))], the Kantorovich-Rubinstein
dual of the Earth-Mover distance (eq. 3) over 1-Lipschitz f; G minimises -E[f(G(z))]
(algorithm 1, lines 5 and 10). The Lipschitz constraint is enforced crudely by clipping every
weight of the critic into [-c, c] after each critic update (line 7), c = `clip_value`. The
logged `wasserstein` is the estimate E[f(x)] - E[f(G(z))] on the slice.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.objectives import Critique, Objective


class WassersteinClip(Objective):
    options = ("clip_value",)

    def __init__(self, clip_value: float = 0.01) -> None:
        self.clip_value = clip_value

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = critique.real_out.mean(), critique.fake_out.mean()
        return d_fake - d_real, {"d_real": d_real.detach(), "d_fake": d_fake.detach(),
                                 "wasserstein": (d_real - d_fake).detach()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_out.mean()

    @torch.no_grad()
    def after_d_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip_value, self.clip_value)
