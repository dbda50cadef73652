"""The Gaussian diffusion of Ho et al. 2020: the forward process, and the two ways back.

Forward (section 2): q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_{s<=t} (1 - beta_s),
with betas rising linearly from beta_1 to beta_T. Training (algorithm 1) draws t uniformly and
regresses the noise epsilon that made x_t.

Back, from x_T ~ N(0, I):

- `ancestral`: algorithm 2, all T steps, x_{t-1} = mu_theta(x_t, t) + sigma_t z with sigma_t^2 = beta_t.
  mu_theta is computed, as in the authors' code (`clip_denoised=True`), as the mean of
  q(x_{t-1} | x_t, x_0) at the x_0 the predicted noise implies, clipped to the data range [-1, 1];
  without clipping that mean is exactly algorithm 2's 1/sqrt(alpha_t) (x_t - beta_t/sqrt(1-abar_t) eps).
- `ddim`: Song et al. 2020, eta = 0 (deterministic), on `steps` timesteps spaced evenly over 0..T-1:
  x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps_hat, x0_hat clipped to [-1, 1] likewise
  and eps_hat the noise that clipped x0_hat implies (as diffusers' DDIM with `clip_sample`).

Timesteps are 0-based here (index t stands for the paper's t + 1). Noise is drawn from the
given torch.Generator on the generator's device (the CPU unless told otherwise) and moved to
the model's, so a seed gives the same images on any device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> predicted epsilon


class Schedule(nn.Module):
    """The linear beta schedule and the quantities both samplers need (float32 buffers, made in float64).

    The buffers are not saved with the weights: they follow from the config (T, beta_1, beta_T).
    """

    def __init__(self, timesteps: int, beta_1: float, beta_T: float) -> None:  # noqa: N803 (the paper's name)
        super().__init__()
        self.timesteps = timesteps
        betas = torch.linspace(beta_1, beta_T, timesteps, dtype=torch.float64)
        abar = torch.cumprod(1.0 - betas, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        buffers = {
            "betas": betas,
            "alphas_bar": abar,
            "sqrt_alphas_bar": abar.sqrt(),
            "sqrt_one_minus_alphas_bar": (1.0 - abar).sqrt(),
            # q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, ...): Ho et al. eq. 7
            "posterior_c0": betas * abar_prev.sqrt() / (1.0 - abar),
            "posterior_ct": (1.0 - betas).sqrt() * (1.0 - abar_prev) / (1.0 - abar),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float(), persistent=False)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, for N images and N timesteps."""
        return _at(self.sqrt_alphas_bar, t) * x0 + _at(self.sqrt_one_minus_alphas_bar, t) * noise

    def predict_x0(self, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The x_0 that noise `eps` at step t implies, clipped to the data range [-1, 1]."""
        x0 = (x - _at(self.sqrt_one_minus_alphas_bar, t) * eps) / _at(self.sqrt_alphas_bar, t)
        return x0.clamp(-1.0, 1.0)

    def ddim_timesteps(self, steps: int) -> list[int]:
        """`steps` timesteps spaced evenly over 0..T-1, from the last: Song et al.'s uniform skip."""
        return sorted({i * self.timesteps // steps for i in range(steps)}, reverse=True)

    @torch.no_grad()
    def ancestral(self, denoiser: Denoiser, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Algorithm 2 from x = x_T: T steps, sigma_t^2 = beta_t, no noise added at the last step."""
        for step in reversed(range(self.timesteps)):
            t = torch.full((len(x),), step, device=x.device, dtype=torch.long)
            x0 = self.predict_x0(x, t, denoiser(x, t))
            x = _at(self.posterior_c0, t) * x0 + _at(self.posterior_ct, t) * x
            if step > 0:
                x = x + self.betas[step].sqrt() * noise_like(x, generator)
        return x

    @torch.no_grad()
    def ddim(self, denoiser: Denoiser, x: torch.Tensor, steps: int) -> torch.Tensor:
        """DDIM with eta = 0 from x = x_T over `ddim_timesteps(steps)`: no noise after the first draw."""
        seq = self.ddim_timesteps(steps)
        for i, step in enumerate(seq):
            t = torch.full((len(x),), step, device=x.device, dtype=torch.long)
            x0 = self.predict_x0(x, t, denoiser(x, t))
            eps = (x - _at(self.sqrt_alphas_bar, t) * x0) / _at(self.sqrt_one_minus_alphas_bar, t)  # of the clipped x0
            abar_prev = self.alphas_bar[seq[i + 1]] if i + 1 < len(seq) else self.alphas_bar.new_tensor(1.0)
            x = abar_prev.sqrt() * x0 + (1.0 - abar_prev).sqrt() * eps
        return x


def noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise of x's shape, drawn on the generator's device and moved to x's."""
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(x.shape, generator=generator, device=where).to(x.device)


def _at(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """values[t] shaped N x 1 x 1 x 1, to scale a batch of images."""
    return values[t].view(-1, 1, 1, 1)
