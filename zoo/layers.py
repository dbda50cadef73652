"""Torch layers and initialisers shared by plugins (public API; imports torch).

Plugins build their networks from these so that one config vocabulary (`activation`,
`init`) means the same thing in every family. Only plugins and heavy commands import this
module; `import zoo` never does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from zoo.errors import ConfigError

__all__ = [
    "BentIdentity",
    "LocalResponseNorm",
    "Maxout",
    "ScaledTanh",
    "activation_layer",
    "init_weights",
    "krizhevsky_lrn",
]

# For these names timm's get_act_layer returns torch's own class; naming it here spares every
# build the seconds `import timm` takes (it imports all of timm's model families).
_TORCH_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU}
# Activations for which timm has layers of its own (timm.layers.get_act_layer).
_TIMM_ACTIVATIONS = ("prelu", "tanh", "sigmoid")


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3 (LeCun et al. 1998, app. A):
    f(±1) = ±1 and the second derivative peaks at ±1."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class BentIdentity(nn.Module):
    """f(x) = x + (sqrt(x² + 1) − 1) / 2: smooth, unbounded, slope between 1/2 and 3/2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (torch.sqrt(x * x + 1.0) - 1.0) / 2.0


class Maxout(nn.Module):
    """Width-preserving maxout with two pieces: unit c outputs max(z_c, z_{c+1 mod C}).

    Goodfellow et al. (2013) give each unit k private affine pieces, which multiplies the
    preceding layer's width by k. Here neighbouring units share pieces so maxout drops into
    any layer as an activation without changing widths or parameter counts (the `activation`
    option must not change a model's shape). Works on (N, C) and (N, C, H, W).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, torch.roll(x, shifts=-1, dims=1))


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module for a config's `activation` name."""
    if name in _TORCH_ACTIVATIONS:
        return _TORCH_ACTIVATIONS[name](inplace=True)
    if name in _TIMM_ACTIVATIONS:
        from timm.layers import get_act_layer

        return get_act_layer(name)()
    own = {"rrelu": nn.RReLU, "softplus": nn.Softplus, "maxout": Maxout,
           "bent_identity": BentIdentity, "scaled_tanh": ScaledTanh}
    if name not in own:
        allowed = ", ".join([*_TORCH_ACTIVATIONS, *_TIMM_ACTIVATIONS, *own])
        raise ConfigError(f"unknown activation '{name}' (allowed: {allowed})")
    return own[name]()


def krizhevsky_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalisation as written in Krizhevsky et al. 2012, section 3.3:
    b = a / (k + α·Σ a²)^β over `size` neighbouring channels.

    torch's LocalResponseNorm divides α by `size` (Caffe's convention), so α is scaled back up.
    """
    return LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


class LocalResponseNorm(nn.LocalResponseNorm):
    """torch's LocalResponseNorm, bit for bit, computed so that the ONNX exporter keeps the tensor's shape.

    torch zero-pads a 5-d view of x² before averaging over channels; the exporter loses every
    dimension at that pad, and a later adaptive pooling (AlexNet's, ZFNet's) then cannot be
    exported. For an odd window on N x C x H x W with C >= size, the pooling's own symmetric
    zero padding gives the same sums in the same order.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or self.size % 2 == 0 or x.shape[1] < self.size:
            return super().forward(x)
        div = nn.functional.avg_pool3d(x.mul(x).unsqueeze(1), (self.size, 1, 1), stride=1,
                                       padding=(self.size // 2, 0, 0)).squeeze(1)
        return x / div.mul(self.alpha).add(self.k).pow(self.beta)


def _gain_name(activation: str) -> str:
    """The nn.init gain name closest to an activation (identity-like ones get 'linear')."""
    if activation in ("relu", "leaky_relu", "tanh", "sigmoid", "selu"):
        return activation
    if activation in ("prelu", "rrelu", "elu", "maxout", "softplus"):
        return "relu"
    return "linear"


def init_weights(modules: Iterable[nn.Module], scheme: str, activation: str = "relu") -> None:
    """Initialise every Conv/Linear weight with `scheme`; biases to 0, norm layers to (1, 0).

    `scheme` is one of the generic schemes of zoo.config.Init; 'paper' is each family's own
    and is applied by the family, not here.
    """
    weight_init = {
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity=_gain_name(activation)),
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain(_gain_name(activation))),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain(_gain_name(activation))),
        "orthogonal": lambda w: nn.init.orthogonal_(w, gain=nn.init.calculate_gain(_gain_name(activation))),
    }.get(scheme)
    if weight_init is None:
        raise ConfigError(f"unknown init '{scheme}' (allowed: kaiming_normal, xavier_uniform, xavier_normal, orthogonal)")
    for m in modules:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight_init(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

