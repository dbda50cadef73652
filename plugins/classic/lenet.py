"""LeNet-5.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. "Gradient-based learning applied to document
recognition." Proc. IEEE 86(11), 1998.

Variant `classic` (`lenet5_classic`) is the paper's network: scaled tanh squashing, trainable
subsampling (S2, S4), C3's sparse connection table (Table I), C5, F6 with 84 units and the
Euclidean RBF output with fixed ±1 code bitmaps. At 32×32 and 10 classes it has exactly
60,000 trainable parameters: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.

Variant `modern` (`lenet5`): the same layout with ReLU, max-pooling, a full C3 and a linear
output layer; 61,706 parameters at 32×32, 10 classes.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import torch
from pydantic import Field, model_validator
from torch import nn

from zoo.config import Activation, ImageClassifierConfig
from zoo.layers import activation_layer, init_weights

from zoo_plugins.classic.geometry import field_defaults, resolve_auto

LeNetActivation = Literal[get_args(Activation) + ("scaled_tanh",)]

# Table I: which S2 maps (rows 0-5) each C3 map (0-15) reads. 6 maps see 3 contiguous
# inputs, 6 see 4 contiguous, 3 see 4 non-contiguous, 1 sees all 6: "break the symmetry".
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# The RBF centres of Fig. 3: stylised 7×12 bitmaps of the digits, '#' = +1, '.' = −1.
DIGIT_BITMAPS: tuple[str, ...] = (
    ".......|..###..|.#...#.|#.....#|#.....#|#.....#|#.....#|#.....#|#.....#|.#...#.|..###..|.......",
    ".......|...#...|..##...|.#.#...|...#...|...#...|...#...|...#...|...#...|...#...|.#####.|.......",
    ".......|..###..|.#...#.|#.....#|......#|.....#.|....#..|...#...|..#....|.#.....|#######|.......",
    ".......|.#####.|#.....#|......#|......#|..####.|......#|......#|......#|#.....#|.#####.|.......",
    ".......|.....#.|....##.|...#.#.|..#..#.|.#...#.|#....#.|#######|.....#.|.....#.|.....#.|.......",
    ".......|#######|#......|#......|#......|######.|......#|......#|......#|#.....#|.#####.|.......",
    ".......|..####.|.#.....|#......|#......|#.####.|##....#|#.....#|#.....#|#.....#|.#####.|.......",
    ".......|#######|......#|.....#.|....#..|...#...|...#...|..#....|..#....|..#....|..#....|.......",
    ".......|.#####.|#.....#|#.....#|#.....#|.#####.|#.....#|#.....#|#.....#|#.....#|.#####.|.......",
    ".......|.#####.|#.....#|#.....#|#.....#|#....##|.####.#|......#|......#|.....#.|.####..|.......",
)


class LeNet5Config(ImageClassifierConfig):
    variant: Literal["modern", "classic"] = Field(
        "modern", description="'classic': the 1998 paper (scaled tanh, trainable subsampling, sparse C3, RBF output); "
                              "'modern': ReLU, max-pool, full C3, linear output.")
    activation: LeNetActivation = Field(
        "relu", description="Hidden activation; 'scaled_tanh' is the paper's 1.7159·tanh(2x/3).")
    c1_padding: int | Literal["auto"] = Field(
        "auto", ge=0, description="Zero padding of C1. 'auto': enough to make the input at least 32×32, "
                                  "as the paper pads 28×28 MNIST digits to 32×32 (2 at 28×28, 0 at 32×32).")

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto(cls, data: Any) -> Any:
        return resolve_auto(data, field_defaults(cls), {"c1_padding": _auto_padding})

    @model_validator(mode="after")
    def _fits(self) -> LeNet5Config:
        # The modern C5 is a linear layer over S4; the classic C5 is a 5×5 conv and needs S4 ≥ 5.
        last = _c5_side(self) if self.variant == "classic" else _s4_side(self)
        if self.c1_padding != "auto" and last < 1:
            raise ValueError(f"image_size={self.image_size} with c1_padding={self.c1_padding} leaves no "
                             f"{'C5' if self.variant == 'classic' else 'S4'} map; use c1_padding=auto")
        return self


def _auto_padding(values: dict[str, Any]) -> int:
    return max(0, math.ceil((32 - int(values["image_size"])) / 2))


def _s4_side(c: LeNet5Config) -> int:
    # C1 5×5 → S2 /2 → C3 5×5 → S4 /2
    return ((c.image_size + 2 * int(c.c1_padding) - 4) // 2 - 4) // 2


def _c5_side(c: LeNet5Config) -> int:
    return _s4_side(c) - 4


class Subsampling(nn.Module):
    """S2/S4: each unit adds its four 2×2 inputs, times a trainable coefficient, plus a trainable
    bias, per map (2 parameters per map)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = nn.functional.avg_pool2d(x, 2) * 4.0  # N x C x H/2 x W/2
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SparseConv2d(nn.Module):
    """A convolution whose output map o reads only the input maps in `table[o]`.

    Only the connected kernels are parameters (C3: 60 kernels × 25 + 16 biases = 1,516); they are
    scattered into a dense, mostly-zero weight for the convolution.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        pairs = [(o, i) for o, inputs in enumerate(table) for i in inputs]
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(len(table)))
        # (output map, input map) of each kernel: 60 x 2. Saved with the weights, so a model
        # materialised from the meta device gets it back on load.
        self.register_buffer("connections", torch.tensor(pairs, dtype=torch.long))
        nn.init.uniform_(self.weight, -0.1, 0.1)

    def dense_weight(self) -> torch.Tensor:
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        return dense.index_put((self.connections[:, 0], self.connections[:, 1]), self.weight)  # out x in x k x k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.dense_weight(), self.bias)


class RBFOutput(nn.Module):
    """Euclidean RBF units y_i = Σ_j (x_j − w_ij)² with fixed ±1 centres (not trained).

    Returns −y as logits, so argmax picks the nearest code and cross-entropy on them is the
    paper's MAP criterion (eq. 9) without its constant rubbish-class term.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("centres", rbf_centres(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x, self.centres).square()  # N x num_classes


def rbf_centres(num_classes: int) -> torch.Tensor:
    """num_classes x 84 codes: the digit bitmaps for the first 10 classes; beyond 10 (the paper
    used 7×12 ASCII glyphs, not reproduced here) fixed random ±1 codes from a seeded generator."""
    digits = torch.tensor([[1.0 if ch == "#" else -1.0 for ch in b.replace("|", "")] for b in DIGIT_BITMAPS])
    if num_classes <= len(digits):
        return digits[:num_classes]
    gen = torch.Generator().manual_seed(1998)
    extra = torch.randint(0, 2, (num_classes - len(digits), digits.shape[1]), generator=gen).float() * 2 - 1
    return torch.cat([digits, extra])


class LeNet5(nn.Module):
    def __init__(self, config: LeNet5Config) -> None:
        super().__init__()
        self.config = config
        if config.variant == "classic":
            self.features, self.classifier = _classic_layers(config)
        else:
            self.features, self.classifier = _modern_layers(config)
        _init(self, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _modern_layers(c: LeNet5Config) -> tuple[nn.Sequential, nn.Sequential]:
    side = _s4_side(c)
    features = nn.Sequential(
        nn.Conv2d(c.in_chans, 6, 5, padding=int(c.c1_padding)),  # C1: N x 6 x 28 x 28
        activation_layer(c.activation),
        nn.MaxPool2d(2),                                        # S2: N x 6 x 14 x 14
        nn.Conv2d(6, 16, 5),                                    # C3: N x 16 x 10 x 10
        activation_layer(c.activation),
        nn.MaxPool2d(2),                                        # S4: N x 16 x 5 x 5
    )
    classifier = nn.Sequential(
        nn.Flatten(),
        nn.Linear(16 * side * side, 120),                       # C5: N x 120
        activation_layer(c.activation),
        nn.Dropout(c.dropout),
        nn.Linear(120, 84),                                     # F6: N x 84
        activation_layer(c.activation),
        nn.Linear(84, c.num_classes),                           # output: N x num_classes
    )
    return features, classifier


def _classic_layers(c: LeNet5Config) -> tuple[nn.Sequential, nn.Sequential]:
    side = _c5_side(c)
    features = nn.Sequential(
        nn.Conv2d(c.in_chans, 6, 5, padding=int(c.c1_padding)),  # C1: N x 6 x 28 x 28
        activation_layer(c.activation),
        Subsampling(6),                                          # S2: N x 6 x 14 x 14
        activation_layer(c.activation),
        SparseConv2d(6, C3_TABLE, 5),                            # C3: N x 16 x 10 x 10
        activation_layer(c.activation),
        Subsampling(16),                                         # S4: N x 16 x 5 x 5
        activation_layer(c.activation),
        nn.Conv2d(16, 120, 5),                                   # C5: N x 120 x 1 x 1
        activation_layer(c.activation),
    )
    classifier = nn.Sequential(
        nn.Flatten(),
        nn.Dropout(c.dropout),                                   # 0 in the paper
        nn.Linear(120 * side * side, 84),                        # F6: N x 84
        activation_layer(c.activation),
        RBFOutput(c.num_classes),                                # output: N x num_classes
    )
    return features, classifier


def _init(model: LeNet5, c: LeNet5Config) -> None:
    if c.init != "paper":
        init_weights(model.modules(), c.init, c.activation)
    elif c.variant == "classic":
        _paper_init(model)
    # The modern variant has no paper of its own: 'paper' keeps PyTorch's default init.


def _paper_init(model: LeNet5) -> None:
    """Appendix C: every weight and bias uniform in ±2.4/F, F = the unit's fan-in."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
        elif isinstance(m, SparseConv2d):
            fan_in = m.weight.numel() // m.out_channels  # average inputs per C3 map
        elif isinstance(m, Subsampling):
            fan_in = 4
        else:
            continue
        bound = 2.4 / fan_in
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.uniform_(m.bias, -bound, bound)
