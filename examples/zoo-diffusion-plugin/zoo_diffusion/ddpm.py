"""DDPM: Denoising Diffusion Probabilistic Models (Ho, Jain and Abbeel, NeurIPS 2020), for 28 x 28 grey digits.

The denoiser eps_theta(x_t, t) is the paper's U-Net (its appendix B, after PixelCNN++ and the
Wide ResNet): a Transformer sinusoidal embedding of t, through a two-layer MLP, added to every
residual block; residual blocks of GroupNorm-swish-conv, two per resolution on the way down
and three on the way up (each taking a skip from the way down); self-attention at one
resolution and in the middle; strided-conv down and nearest-neighbour-and-conv up.

What is kept of the CIFAR-10 network (35.7M parameters) and what is not, and why:

| | paper, CIFAR-10 32 x 32 | here, MNIST 28 x 28 | why |
| --- | --- | --- | --- |
| resolutions | 32, 16, 8, 4 | 28, 14, 7 | 28 halves twice to an odd 7 |
| channels | 128 x (1, 2, 2, 2) | 16 x (1, 2, 2) | ~80x fewer FLOPs, 0.41M parameters: trains in an hour of a CPU core |
| res blocks per resolution | 2 | 2 | kept |
| attention | at 16 x 16 | at 7 x 7 | 49 positions: almost free; 14 x 14 would cost more than it gives on digits |
| GroupNorm groups | 32 | 4 | 32 groups of 16 channels would normalise single channels |
| dropout | 0.1 | 0 | the paper's 0.1 fights over-fitting over 800k steps; a few epochs do not over-fit |
| EMA decay | 0.9999 | 0.999, warmed up | 0.9999 averages over ~10k steps, more than the recipe takes |

The schedule and T are the paper's: T = 1000, betas linear from 1e-4 to 0.02. Images are scaled
to [-1, 1] for the diffusion; `sample` returns them in [0, 1], the data's value range.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from zoo.config import ConfigError, ModelConfig
from zoo_diffusion.schedule import Schedule, noise_like


DDIM_STEPS = 50  # DDIM's steps when none are given: Song et al.'s CIFAR-10 FID there (4.67) is near 1,000 steps' (4.04)
SAMPLERS = ("ddim", "ancestral")


def sampling_steps(sampler: str, steps: int | None, timesteps: int) -> int | None:
    """The DDIM step count `sample` runs, or None for ancestral sampling; a combination that makes no sense is a
    ConfigError naming it."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler={sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if sampler == "ancestral":
        if steps is not None:
            raise ConfigError(f"steps={steps}: ancestral sampling takes all T={timesteps} steps; steps counts DDIM's")
        return None
    k = DDIM_STEPS if steps is None else steps
    if not 1 <= k <= timesteps:
        raise ConfigError(f"steps={k}: DDIM takes 1 to T={timesteps} steps")
    return k


class DDPMConfig(ModelConfig):
    image_size: int = Field(28, ge=4, le=512, description="Image height and width in pixels; divisible by "
                                                          "2^(levels - 1).")
    in_chans: int = Field(1, ge=1, le=4, description="Image channels (1 grey, 3 RGB).")
    channels: int = Field(16, ge=4, le=512, description="Channels at the first resolution (the paper's CIFAR-10 "
                                                        "network: 128).")
    channel_mult: tuple[int, ...] = Field((1, 2, 2), min_length=1, max_length=6,
                                          description="Channel multiplier per resolution, one per level; each level "
                                                      "after the first halves the image side.")
    num_res_blocks: int = Field(2, ge=1, le=8, description="Residual blocks per resolution on the way down (one more "
                                                           "on the way up).")
    attention_resolutions: tuple[int, ...] = Field((7,), description="Image sides at which a self-attention block "
                                                                     "follows each residual block (the middle always "
                                                                     "has one).")
    norm_groups: int = Field(4, ge=1, description="GroupNorm groups; must divide every level's channels.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout inside each residual block (the paper: 0.1 "
                                                            "on CIFAR-10).")
    timesteps: int = Field(1000, ge=2, le=10_000, description="T, the number of diffusion steps.")
    beta_1: float = Field(1e-4, gt=0.0, lt=1.0, description="First variance of the linear beta schedule.")
    beta_T: float = Field(0.02, gt=0.0, lt=1.0, description="Last variance of the linear beta schedule.")  # noqa: N815
    ema: float = Field(0.999, ge=0.0, lt=1.0, description="Decay of the exponential moving average of the weights "
                                                          "that sampling uses, warmed up as min(ema, (1 + n)/(10 + n)) "
                                                          "after n updates (0: sample with the trained weights).")

    @model_validator(mode="after")
    def _consistent(self) -> DDPMConfig:
        levels = len(self.channel_mult)
        if self.image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size={self.image_size} must be divisible by 2^{levels - 1} for "
                             f"{levels} levels of channel_mult")
        sides = [self.image_size // 2**i for i in range(levels)]
        stray = [s for s in self.attention_resolutions if s not in sides]
        if stray:
            raise ValueError(f"attention_resolutions {list(stray)}: the U-Net's sides are {sides}")
        widths = sorted({self.channels * m for m in self.channel_mult})
        if any(w % self.norm_groups for w in widths):
            raise ValueError(f"norm_groups={self.norm_groups} must divide every level's channels {widths}")
        if not self.beta_1 < self.beta_T:
            raise ValueError(f"beta_1={self.beta_1} must be below beta_T={self.beta_T}")
        return self

    def train_defaults(self) -> dict[str, Any]:
        """Adam with no weight decay, a constant rate after a warm-up and gradients clipped at norm 1, as Ho et al.;
        batch 128, 8 epochs (66 minutes of one CPU core on a shared machine, evaluations included). The rate is 1e-3, not the paper's 2e-4: that one is
        for a 35.7M-parameter network over 800k steps, this recipe takes 3,750 steps of a 0.4M one. The warm-up is
        0.2 epochs (94 steps) where the paper's is 5,000 steps, longer than this whole recipe."""
        return {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "scheduler": "constant",
                "warmup_epochs": 0.2, "epochs": 8, "grad_clip": 1.0, "checkpoint_every": 100}


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """N timesteps -> N x dim: sin and cos of t at dim/2 frequencies from 1 to 1/10000 (Vaswani et al.)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1))
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class ResBlock(nn.Module):
    """GroupNorm-swish-conv, plus the projected time embedding, then GroupNorm-swish-dropout-conv; a residual."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.drop = nn.GroupNorm(groups, c_out), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (the authors' zero-initialised last conv)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the H x W positions, residual (the authors' attention block)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.scale = channels ** -0.5  # a constant, not read off the traced input's shape
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)  # each B x C x HW
        weights = torch.softmax(q.transpose(1, 2) @ k * self.scale, -1)  # B x HW x HW
        return x + self.out((v @ weights.transpose(1, 2)).reshape(b, c, h, w))


class UNet(nn.Module):
    """eps_theta: (N x C x S x S images in [-1, 1] with noise, N timesteps 0..T-1) -> N x C x S x S noise."""

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__()
        c, groups, drop = config.channels, config.norm_groups, config.dropout
        self.embed_dim, t_dim = c, 4 * c
        self.time = nn.Sequential(nn.Linear(c, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(config.in_chans, c, 3, padding=1)  # N x c x 28 x 28
        side, width, skips = config.image_size, c, [c]
        self.down = nn.ModuleList()
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                attend = side in config.attention_resolutions
                self.down.append(self._stage(width, c * mult, t_dim, groups, drop, attend))
                width = c * mult
                skips.append(width)
            if level < len(config.channel_mult) - 1:
                self.down.append(Downsample(width))  # 28 -> 14 -> 7
                side //= 2
                skips.append(width)
        self.middle = nn.ModuleList([ResBlock(width, width, t_dim, groups, drop), Attention(width, groups),
                                     ResBlock(width, width, t_dim, groups, drop)])  # N x 2c x 7 x 7
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for _ in range(config.num_res_blocks + 1):
                self.up.append(self._stage(width + skips.pop(), c * mult, t_dim, groups, drop,
                                           side in config.attention_resolutions))
                width = c * mult
            if level > 0:
                self.up.append(Upsample(width))  # 7 -> 14 -> 28
                side *= 2
        self.head = nn.Sequential(nn.GroupNorm(groups, width), nn.SiLU(),
                                  nn.Conv2d(width, config.in_chans, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    @staticmethod
    def _stage(c_in: int, c_out: int, t_dim: int, groups: int, dropout: float, attend: bool) -> nn.Module:
        block = ResBlock(c_in, c_out, t_dim, groups, dropout)
        return TimeSequential(block, Attention(c_out, groups)) if attend else TimeSequential(block)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.embed_dim))
        h = self.stem(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, temb)
            hs.append(h)
        for layer in self.middle:
            h = layer(h, temb)
        for layer in self.up:
            h = layer(h, temb) if isinstance(layer, Upsample) else layer(torch.cat([h, hs.pop()], 1), temb)
        return self.head(h)


class TimeSequential(nn.Sequential):
    """Layers that each take (h, time embedding)."""

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, temb)
        return x


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DDPM(nn.Module):
    """The U-Net `denoiser` (trained), its EMA copy `denoiser_ema` (sampled from) and the schedule.

    The surface the `denoising-diffusion` task uses: `forward(x_t, t)` (the trained denoiser's
    epsilon), `denoise(x_t, t)` (the sampling denoiser's), `schedule`, `update_ema()`, and
    `sample(n, generator=None, condition=None, sampler="ddim", steps=None)`.
    """

    condition_type = None  # unconditional: `sample` refuses a condition
    value_range = (0.0, 1.0)

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__()
        self.config = config
        self.denoiser = UNet(config)
        if config.ema:
            self.denoiser_ema = copy.deepcopy(self.denoiser).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))  # saved: resume replays the warm-up
        self.schedule = Schedule(config.timesteps, config.beta_1, config.beta_T)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """The trained denoiser's epsilon for noisy images x ([-1, 1] scale) at timesteps t; without t, x is
        taken as x_T (pure noise), what `zoo build` and a bare forward pass feed."""
        if t is None:
            t = torch.full((len(x),), self.config.timesteps - 1, dtype=torch.long, device=x.device)
        return self.denoiser(x, t)

    def sampling_denoiser(self) -> nn.Module:
        return getattr(self, "denoiser_ema", self.denoiser)

    def denoise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The sampling denoiser's (EMA if kept) epsilon."""
        return self.sampling_denoiser()(x, t)

    @torch.no_grad()
    def update_ema(self) -> None:
        """denoiser_ema <- d * denoiser_ema + (1 - d) * denoiser, d = min(ema, (1 + n) / (10 + n)) after n updates."""
        ema = getattr(self, "denoiser_ema", None)
        if ema is None:
            return
        n = int(self.ema_updates)
        decay = min(self.config.ema, (1 + n) / (10 + n))
        for e, p in zip(ema.parameters(), self.denoiser.parameters()):
            e.lerp_(p, 1.0 - decay)
        self.ema_updates += 1

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None,
               sampler: str = "ddim", steps: int | None = None) -> torch.Tensor:
        """n images in [0, 1]. `sampler` "ddim": DDIM (Song et al. 2020, eta = 0) over `steps` evenly spaced
        timesteps (default `DDIM_STEPS`); "ancestral": Ho et al.'s algorithm 2 over all T steps. Call in eval
        mode; all noise comes from `generator`."""
        if condition is not None:
            raise ConfigError("ddpm is unconditional; it takes no condition")
        k = sampling_steps(sampler, steps, self.config.timesteps)
        c = self.config
        device = next(self.parameters()).device
        x = noise_like(torch.empty(n, c.in_chans, c.image_size, c.image_size, device=device), generator)
        if k is None:
            x = self.schedule.ancestral(self.denoise, x, generator)
        else:
            x = self.schedule.ddim(self.denoise, x, k)
        return (x.clamp(-1.0, 1.0) + 1.0) / 2.0

    def export_module(self) -> nn.Module:
        """What `zoo export` writes: the sampling denoiser, (noisy image in [-1, 1], timestep) -> epsilon."""
        return self.sampling_denoiser()

    def export_inputs(self, batch_size: int) -> dict[str, torch.Tensor]:
        c = self.config
        return {"noisy_image": torch.randn(batch_size, c.in_chans, c.image_size, c.image_size),
                "timestep": torch.randint(c.timesteps, (batch_size,))}
