"""MAD-GAN: multiple generators and a discriminator that must say which one made a sample.

A. Ghosh, V. Kulharia, V. Namboodiri, P. Torr, P. Dokania. "Multi-Agent Diverse Generative
Adversarial Networks." CVPR 2018 (arXiv:1704.02906).

k generators share every layer but the last (the paper ties the early layers so that they
learn common features, section 3; `own_layer=first` instead gives each its own first layer, a
projection of the noise into the shared rest, as the authors' madgan_ind.py does); the
discriminator has k + 1 softmax outputs, k for "made by generator i" and one for "real". D
minimises the cross-entropy of those k + 1 classes, so to tell the generators apart it pushes
them towards different modes; each generator wants its samples classed as real. G's loss is
the non-saturating -log D_real(G_i(z)), the form the paper trains with (section 3.1, as in
Goodfellow et al.): the registered objective `identification`. Networks (`arch`): the DCGAN layout (`dcgan.ConvGenerator` with k output
heads, `dcgan.ConvDiscriminator` with k + 1 outputs), or the fully connected networks of `gan`
(`arch=mlp`: its hidden layers shared, k output layers), so that MAD-GAN can be set against a
plain GAN of either kind on one footing.

Sample i of a batch comes from generator i mod k, in training and in `sample`. In training each
noise vector goes to all k generators (the adversarial task's `noise`), as in the authors' code
("same noise as input to all the generators"), and D's loss weights its k + 1 classes alike, as
their mean over one real batch and k generated ones does. Deviation: the authors make k fakes of
every one of a batch's noise vectors (k B fakes for B real images); here a batch of B has B / k
vectors, so B fakes, and a MAD-GAN step costs what a GAN step does.

`identify=false` keeps the k generators but gives D one real/fake output and the plain GAN loss
(`objective`, default non_saturating; any objective that does not name generators): the
ablation that tells what the identification adds to having several generators.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, TypeAdapter, ValidationError, model_validator
from torch import nn

from zoo_plugins.gans.base import GAN, GameConfig, dcgan_init
from zoo_plugins.gans.dcgan import BASE_SIDE, ConvDiscriminator, ConvGenerator, DiscriminatorWidth
from zoo_plugins.gans.gan import MLPDiscriminator, mlp_trunk, pixels


class MADGANConfig(DiscriminatorWidth, GameConfig):
    objective_options: ClassVar[tuple[str, ...]] = ("label_smoothing",)

    arch: Literal["dcgan", "mlp"] = Field("dcgan", description="The networks: dcgan (convolutional, sized by "
                                                               "`width`) or mlp (gan's, sized by `hidden`).")
    width: int = Field(32, ge=4, description="Channels of G's last shared layer and D's first (unless d_width; "
                                             "arch=dcgan).")
    hidden: int = Field(256, ge=4, description="G's first hidden width (then 2x, 4x) and D's last (arch=mlp).")
    num_generators: int = Field(4, ge=2, description="k, the number of generators (each has its own `own_layer`).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="One-sided label smoothing of D's 'real' class.")
    own_layer: Literal["last", "first"] = Field(
        "last", description="The layer each generator has to itself, the others shared: last (the paper's k output "
                            "layers on common features) or first (k projections of the noise into one network, as "
                            "the authors' madgan_ind.py).")
    identify: bool = Field(True, description="D names each fake's generator (k + 1 outputs). False is the ablation: "
                                             "the same k generators against a real/fake D with one output.")

    @model_validator(mode="before")
    @classmethod
    def _objective_follows_identify(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("objective") is None:
            try:
                identify = TypeAdapter(bool).validate_python(data.get("identify", True))
            except ValidationError:  # the field's own validation says what is wrong
                return data
            data = {**data, "objective": "identification" if identify else "non_saturating"}
        return data

    @property
    def generators(self) -> int:
        return self.num_generators

    @model_validator(mode="after")
    def _fits_arch(self) -> "MADGANConfig":
        from zoo.errors import ZooError
        from zoo.objectives import load_objective

        try:
            names_generators = load_objective(self.objective).identifies_generators
        except ZooError as err:
            raise ValueError(str(err)) from None
        if names_generators != self.identify:
            raise ValueError(f"objective={self.objective} does not go with identify={str(self.identify).lower()}: "
                             "a D that names the generators trains with identification, a real/fake D with another "
                             "objective")
        for unused in {"dcgan": ["hidden"], "mlp": ["width", "d_width"]}[self.arch]:
            if getattr(self, unused) != type(self).model_fields[unused].default:  # a saved config holds the default
                raise ValueError(f"{unused} does not apply to arch={self.arch}")
        if self.arch == "dcgan" and self.image_size not in BASE_SIDE:
            raise ValueError(f"the DCGAN networks are sized for {', '.join(map(str, BASE_SIDE))} pixels, "
                             f"not {self.image_size}")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """DCGAN's recipe (Adam 2e-4, beta1 0.5), batch 128."""
        return {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "batch_size": 128,
                "scheduler": "none", "warmup_epochs": 0.0, "epochs": 5}


def pick(heads: nn.ModuleList, h: torch.Tensor, which: torch.Tensor | None) -> torch.Tensor:
    """Output head which[i] applied to row i of the shared features h (default: head i mod k).

    Each head runs on its own rows only, so k heads cost what one does.
    """
    k = len(heads)
    if which is None:
        which = torch.arange(h.shape[0], device=h.device) % k
    rows = [torch.nonzero(which == i).flatten() for i in range(k)]
    outs = [head(h.index_select(0, r)) for head, r in zip(heads, rows)]
    out = outs[0].new_zeros(h.shape[0], *outs[0].shape[1:])  # N x (head's output)
    for r, o in zip(rows, outs):
        out.index_copy_(0, r, o)
    return out


class MultiGenerator(ConvGenerator):
    """k convolutional generators in one module, each with its own output layer (`heads`) or its own
    projection of the noise (`project`), the other layers shared; row i goes to generator which[i]."""

    def __init__(self, c: MADGANConfig, width: int) -> None:
        super().__init__(c, width, conditional=False, heads=c.num_generators if c.own_layer == "last" else 1)
        self.own = c.own_layer
        if self.own == "first":
            self.project = nn.ModuleList(copy.deepcopy(self.project) for _ in range(c.num_generators))
            dcgan_init(self.project)  # each its own draw

    def forward(self, z: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
        if self.own == "last":
            return torch.tanh(pick(self.heads, self.trunk(z, None), which))  # N x C x H x W
        h = pick(self.project, z, which).view(-1, self.top, self.base, self.base)
        return torch.tanh(self.heads[0](self.body(h)))


class MultiMLPGenerator(nn.Module):
    """k fully connected generators: gan's layers shared but the output layer (`heads`) or the first (`inputs`)."""

    def __init__(self, c: MADGANConfig) -> None:
        super().__init__()
        k, self.own, self.shape = c.num_generators, c.own_layer, (c.in_chans, c.image_size, c.image_size)
        layers = mlp_trunk(c.latent_dim, c.hidden)
        if self.own == "first":  # k input layers, then the rest of the trunk and one output layer
            self.inputs = nn.ModuleList(nn.Linear(c.latent_dim, c.hidden) for _ in range(k))
            layers = layers[1:]
        self.trunk = nn.Sequential(*layers)  # N x 4 hidden
        self.heads = nn.ModuleList(nn.Linear(4 * c.hidden, pixels(c)) for _ in range(k if self.own == "last" else 1))

    def forward(self, z: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
        if self.own == "last":
            out = pick(self.heads, self.trunk(z), which)
        else:
            out = self.heads[0](self.trunk(pick(self.inputs, z, which)))
        return torch.tanh(out).view(-1, *self.shape)  # N x C x H x W


class MADGAN(GAN):
    def __init__(self, config: MADGANConfig) -> None:
        k = config.num_generators
        outputs = k + 1 if config.identify else 1
        if config.arch == "mlp":
            nets = (MultiMLPGenerator(config), MLPDiscriminator(config, config.hidden, False, outputs=outputs))
        else:
            nets = (MultiGenerator(config, config.width),
                    ConvDiscriminator(config, config.discriminator_width, conditional=False, outputs=outputs))
        super().__init__(config, *nets)

    def fake_condition(self, n: int, real: torch.Tensor | None = None) -> torch.Tensor:
        """Which generator makes each fake: row i from generator i mod k."""
        return torch.arange(n, device=self._device()) % self.config.num_generators

    def train_noise(self, n: int) -> torch.Tensor:
        """n x latent_dim from N(0, I), each vector given to all k generators in turn (rows k j .. k j + k - 1
        share z_j), as in the authors' code: D must then tell the generators apart on the same z."""
        k = self.config.num_generators
        return torch.randn(-(-n // k), self.latent_dim, device=self._device()).repeat_interleave(k, 0)[:n]

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Noise, and which generator makes each image (0..k-1)."""
        return {"noise": torch.randn(batch_size, self.latent_dim),
                "generator": torch.randint(self.config.num_generators, (batch_size,))}
