"""What the built-in GAN families share beyond the public surface (zoo.surfaces.gan): their config
fields (the label a conditional model takes, the mode-collapse remedies), DCGAN's weight
initialisation and minibatch discrimination.

`GAN` is `zoo.surfaces.gan.GANSurface` (sampling, noise, EMA, conditioning, export hooks) plus
the schedule remedies of `Remedies` (feature matching, unrolled D), which the adversarial task
runs when `game()` asks for them. `forward(x)` reads images, as every zoo model's does: it is
the discriminator's logits.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ZooConfig
from zoo.surfaces.gan import Game, GANConfig, GANSurface


class GameConfig(GANConfig):
    """The public GAN fields, plus the classes a conditional family's label picks from."""

    objective: str = Field("non_saturating", description="The adversarial loss, a registered objective (`zoo list "
                                                         "--objectives`): non_saturating (default), minimax, "
                                                         "least_squares, hinge, relativistic_average, "
                                                         "wasserstein_clip, wasserstein_gp, identification, or a "
                                                         "plugin's.")
    num_classes: int = Field(10, ge=1, description="Classes a conditional model's label picks from (ignored when "
                                                   "unconditional).")

    @model_validator(mode="before")
    @classmethod
    def _loss_is_objective(cls, data: Any) -> Any:
        """Configs saved before objectives were registered (the shipped bundles) call the objective `loss`."""
        if isinstance(data, dict) and "loss" in data:
            data = dict(data)
            loss = data.pop("loss")
            if data.setdefault("objective", loss) != loss:
                raise ValueError(f"loss is the former name of objective; give objective alone (got loss={loss}, "
                                 f"objective={data['objective']})")
        return data

    @property
    def condition_classes(self) -> int:
        """Classes a condition picks from (the contract's name); 0 when unconditional."""
        return self.num_classes if getattr(self, "conditional", False) else 0


class Remedies(ZooConfig):
    """Mode-collapse remedies for a discriminator with a sigmoid-style output (not for critics)."""

    objective_options: ClassVar[tuple[str, ...]] = ("label_smoothing",)

    minibatch_features: int = Field(0, ge=0, description="Minibatch discrimination (Salimans et al. 2016): number of "
                                                          "kernels B appended to D's last hidden layer (0: off).")
    feature_matching: bool = Field(False, description="G matches the mean of D's last hidden features on real data "
                                                      "instead of fooling D (Salimans et al. 2016).")
    unrolled_steps: int = Field(0, ge=0, description="G is trained against a copy of D advanced this many steps "
                                                     "(Metz et al. 2016; 0: off).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="One-sided label smoothing: D's target for "
                                                                    "real images is 1 - this (fakes stay 0).")


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights from N(0, 0.02); batch-norm scales from N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, section 3.2: each sample learns how close it is to the rest of its batch.

    f (N x A) -> M = f T (N x B x C); c_b(i, j) = exp(-||M_ib - M_jb||_1);
    o_b(i) = sum over j != i of c_b(i, j). Returns [f, o]: N x (A + B).
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)  # N x B x C
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # N x N x B
        o = torch.exp(-l1).sum(1) - 1.0  # N x B; the -1 drops c_b(i, i) = 1
        return torch.cat([f, o], 1)


class GAN(GANSurface):
    """The surface with the built-in families' schedule remedies (`Remedies`, where the family has them)."""

    def game(self) -> Game:
        c = self.config
        if not isinstance(c, Remedies):
            return super().game()
        return Game(d_steps=c.d_steps, g_steps=c.g_steps, feature_matching=c.feature_matching,
                    unrolled_steps=c.unrolled_steps)
