"""The log loss of the original GAN: minimax and non-saturating.

I. Goodfellow et al. "Generative Adversarial Nets." NeurIPS 2014 (arXiv:1406.2661).

D maximises log D(x) + log(1 - D(G(z))) with D = sigmoid of its logit (eq. 1), i.e. minimises
the binary cross-entropy of "real" on real images and "fake" on fakes. G, as written in eq. 1
(`minimax`), minimises log(1 - D(G(z))); early on, when D rejects every fake, that saturates,
so section 3 advises G to maximise log D(G(z)) instead (`non_saturating`, the default of every
built-in GAN that uses the log loss).

`label_smoothing` (Salimans et al. 2016, one-sided): D's target for real images is 1 - s,
fakes stay 0. A matching-aware D (Reed et al. 2016, algorithm 1; GAN-CLS) also learns that a
real image with a wrong condition is fake: the fake term is the mean of the two fake kinds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.objectives import Critique, Objective


class NonSaturating(Objective):
    """D: BCE(D(x), 1 - s) + BCE(D(G(z)), 0); G: BCE(D(G(z)), 1) = -log D(G(z))."""

    options = ("label_smoothing",)
    matching_aware = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def d_loss(self, critique: Critique) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_out, fake_out, wrong_out = critique.real_out, critique.fake_out, critique.wrong_out
        metrics: dict[str, torch.Tensor] = {}
        fake_term = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        if wrong_out is not None:  # Reed et al. algorithm 1: s_r real; s_w (real, wrong) and s_f fake, 1/2 each
            fake_term = 0.5 * (F.binary_cross_entropy_with_logits(wrong_out, torch.zeros_like(wrong_out)) + fake_term)
            metrics["d_wrong"] = torch.sigmoid(wrong_out).mean().detach()
        target = torch.full_like(real_out, 1.0 - self.label_smoothing)
        loss = F.binary_cross_entropy_with_logits(real_out, target) + fake_term
        return loss, {"d_real": torch.sigmoid(real_out).mean().detach(),
                      "d_fake": torch.sigmoid(fake_out).mean().detach(), **metrics}

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))


class Minimax(NonSaturating):
    """D as `NonSaturating`; G minimises log(1 - D(G(z))) = -softplus(logit), the game of eq. 1 as written."""

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        return -F.softplus(fake_out).mean()
