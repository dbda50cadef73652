"""Wasserstein with a gradient penalty: WGAN-GP's critic.

I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. "Improved Training of
Wasserstein GANs." NeurIPS 2017 (arXiv:1704.00028).

The critic's loss is eq. 3: E[D(G(z))] - E[D(x)] + lambda E[(||grad_x^ D(x^)||_2 - 1)^2],
the penalty taken at x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample (algorithm 1,
lines 4-7), lambda = `gradient_penalty` (the paper's 10). G minimises -E[D(G(z))] (line 11).
The penalty is per sample, so the critic should have no batch norm (section 4; `wgan_gp`'s has
none). Logged: the `wasserstein` estimate E[D(x)] - E[D(G(z))] and the `gradient_penalty` term.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from zoo.objectives import Critique, Objective


class WassersteinGP(Objective):
    options = ("gradient_penalty",)

    def __init__(self, gradient_penalty: float = 10.0) -> None:
        self.weight = gradient_penalty

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = critique.real_out.mean(), critique.fake_out.mean()
        penalty = gradient_penalty(critique.critic, critique.real, critique.fake, self.weight)
        return d_fake - d_real + penalty, {"d_real": d_real.detach(), "d_fake": d_fake.detach(),
                                           "wasserstein": (d_real - d_fake).detach(),
                                           "gradient_penalty": penalty.detach()}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_out.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float, eps: torch.Tensor | None = None) -> torch.Tensor:
    """lambda * E[(||grad_x^ D(x^)||_2 - 1)^2] at x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample;
    `critic` maps images to D's logits. Differentiable in D's parameters (create_graph)."""
    if eps is None:
        eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
    mixed = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1.0).square().mean()
