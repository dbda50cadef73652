"""WGAN and WGAN-GP: a critic estimating the Earth-Mover distance.

M. Arjovsky, S. Chintala, L. Bottou. "Wasserstein GAN." ICML 2017 (arXiv:1701.07875).
I. Gulrajani et al. "Improved Training of Wasserstein GANs." NeurIPS 2017 (arXiv:1704.00028).

Variants (manifest `defaults`):

| model   | Lipschitz constraint                      | critic norm | recipe                          |
| ------- | ----------------------------------------- | ----------- | ------------------------------- |
| wgan    | weights clipped to [-c, c], c = 0.01      | batch norm  | RMSprop 5e-5, n_critic 5        |
| wgan_gp | lambda (||grad D(x^)|| - 1)^2, lambda = 10 | none        | Adam 1e-4, betas (0, 0.9), n_critic 5 |

The critic has no sigmoid: its output is a score, and E[D(x)] - E[D(G(z))] estimates the
Wasserstein distance. The losses are the registered objectives `wasserstein_clip` and
`wasserstein_gp`; `objective` follows `critic`. Both papers use the DCGAN networks (Arjovsky et al. section 4), so
these are `dcgan.ConvGenerator` and `dcgan.ConvDiscriminator`. WGAN-GP drops batch norm from
the critic because the penalty is per sample and batch norm couples the samples (section 4).
Batch 64 per critic step as in both papers, so one engine step (one G update) reads
n_critic x 64 = 320 images. timm's RMSprop uses alpha 0.9 where torch's default (which the
reference code took) is 0.99.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from zoo_plugins.gans.base import GAN, GameConfig
from zoo_plugins.gans.dcgan import BASE_SIDE, ConvDiscriminator, ConvGenerator, DiscriminatorWidth

CRITICS = {  # critic -> the constraint's default strength
    "clip": {"clip_value": 0.01},
    "gp": {"gradient_penalty": 10.0},
}


class WGANConfig(DiscriminatorWidth, GameConfig):
    objective_options: ClassVar[tuple[str, ...]] = ("clip_value", "gradient_penalty")

    width: int = Field(32, ge=4, description="Channels of G's last hidden layer and the critic's first (unless "
                                             "d_width; DCGAN layout).")
    critic: Literal["clip", "gp"] = Field("clip", description="How the critic is kept 1-Lipschitz: clip its weights "
                                                              "(WGAN) or penalise its gradient norm (WGAN-GP).")
    clip_value: float | None = Field(None, gt=0, description="critic=clip: weights are clipped to [-c, c] after each "
                                                             "critic step (default 0.01).")
    gradient_penalty: float | None = Field(None, gt=0, description="critic=gp: the penalty's weight lambda (default 10).")
    critic_norm: bool | None = Field(None, description="Batch norm in the critic (default: yes with clip, as in WGAN; "
                                                       "no with gp, which forbids it).")
    d_steps: int = Field(5, ge=1, description="Critic updates per G update (n_critic), each on its own slice of the batch.")
    conditional: bool = Field(False, description="Condition G and the critic on the class label (one-hot).")

    @model_validator(mode="before")
    @classmethod
    def _constraint_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        critic = data.get("critic", "clip")
        other = "gp" if critic == "clip" else "clip"
        for key in CRITICS.get(other, {}):
            if data.get(key) is not None:
                raise ValueError(f"{key} applies to critic={other}, not critic={critic}")
        if critic == "gp" and data.get("critic_norm"):
            raise ValueError("critic_norm=true does not apply to critic=gp: the gradient penalty is per sample and "
                             "batch norm couples the samples (Gulrajani et al. section 4)")
        filled = {**CRITICS.get(critic, {}), "critic_norm": critic == "clip", "objective": f"wasserstein_{critic}"}
        return {**filled, **{k: v for k, v in data.items() if v is not None}}

    @model_validator(mode="after")
    def _sized(self) -> WGANConfig:
        if self.objective != f"wasserstein_{self.critic}":
            raise ValueError(f"objective={self.objective} does not apply to wgan with critic={self.critic}: its "
                             f"objective follows the critic (wasserstein_{self.critic}); dcgan takes any objective")
        if self.image_size not in BASE_SIDE:
            raise ValueError(f"the DCGAN networks are sized for {', '.join(map(str, BASE_SIDE))} pixels, not {self.image_size}")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """The papers' recipes; 64 images per critic step."""
        common = {"batch_size": 64 * self.d_steps, "weight_decay": 0.0, "scheduler": "none", "warmup_epochs": 0.0,
                  "epochs": 10}
        if self.critic == "clip":
            return {**common, "optimizer": "rmsprop", "lr": 5e-5, "momentum": 0.0}
        return {**common, "optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9)}


class WGAN(GAN):
    def __init__(self, config: WGANConfig) -> None:
        super().__init__(config,
                         ConvGenerator(config, config.width, config.conditional),
                         ConvDiscriminator(config, config.discriminator_width, config.conditional,
                                           norm=bool(config.critic_norm)))
