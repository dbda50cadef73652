"""Least squares: LSGAN's losses.

X. Mao, Q. Li, H. Xie, R. Lau, Z. Wang, S. Smolley. "Least Squares Generative Adversarial
Networks." ICCV 2017 (arXiv:1611.04076).

Eq. 2 with the 0-1 coding a = 0 (fake), b = 1 (real), c = 1 (what G wants D to believe):
D minimises 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2], G minimises 1/2 E[(D(G(z)) - c)^2],
on D's raw output (no sigmoid). With `label_smoothing` s the real target b is 1 - s.
"""

from __future__ import annotations

import torch

from zoo.objectives import Critique, Objective


class LeastSquares(Objective):
    options = ("label_smoothing",)

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_out, fake_out = critique.real_out, critique.fake_out
        loss = 0.5 * ((real_out - (1.0 - self.label_smoothing)).square().mean() + fake_out.square().mean())
        return loss, {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (fake_out - 1.0).square().mean()
