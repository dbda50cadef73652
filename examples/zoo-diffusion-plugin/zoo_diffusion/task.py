"""The `denoising-diffusion` task: train a denoiser by epsilon-prediction, sample by ancestral steps or DDIM.

Training is Ho et al. 2020's algorithm 1: for images x_0 scaled to [-1, 1] (`data.normalize` does
not apply: the diffusion is defined on that range), t uniform over 0..T-1 and eps ~ N(0, I), one
step on ||eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)||^2, the per-pixel mean.
t and eps come from the global CPU generator, whose state every checkpoint carries, so a resumed
run replays them. After each step the model updates the EMA copy of its weights that sampling uses.

The evaluation every epoch is the same loss on the evaluation split at fixed timesteps and noise
(chunk c of `EVAL_BATCH` images draws them with seed `EVAL_SEED + c`, so the first N images are
scored alike whatever N), for the sampling (EMA) weights: `loss`, lower is better. It costs one
forward pass per image, where a sample-based score would cost `steps` of them per sample.

`zoo sample` / `zoo.sample` draw by DDIM (Song et al. 2020, eta = 0) over `--steps` evenly spaced
timesteps (default 50), or with `--sampler ancestral` by algorithm 2 over all T steps, the paper's
sampler and about T/steps times slower. DDIM is the default because the generic callers
(`zoo eval`'s 10,000 samples, the contract) would otherwise pay 1,000 denoiser passes per image.
`zoo eval`: the generator metrics (`zoo.metrics.evaluate`) of samples drawn the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from zoo.surfaces import require
from zoo.tasks.base import Batch, Stepper, Task
from zoo.tasks.options import EvalOptions, GeneratorEvalOptions, SampleOptions
from zoo_diffusion.ddpm import sampling_steps

EVAL_BATCH = 500
EVAL_SEED = 0
PICTURE_SEED = 0  # the fixed noise of every epoch's sample grid
PICTURE_STEPS = 20  # DDIM steps of the per-epoch grid: 64 images cost as much as 1,280 denoiser passes
SAMPLER_HELP = ("ddim: DDIM (Song et al. 2020, eta = 0) over --steps evenly spaced steps; ancestral: Ho et al.'s "
                "algorithm 2 over all T steps, about T/steps times slower.")
STEPS_HELP = "DDIM steps (default 50); ancestral sampling takes all T."


class DiffusionModel:
    """The surface the `denoising-diffusion` task trains and samples through (a model need not subclass it).

    - `forward(x_t, t) -> eps`: the trained denoiser, noisy N x C x H x W images on the [-1, 1] scale and N
      integer timesteps in 0..T-1 -> the predicted noise, N x C x H x W;
    - `denoise(x_t, t) -> eps`: the same from the weights sampling uses (an EMA copy, or the trained ones);
    - `schedule`: a `zoo_diffusion.schedule.Schedule` (`q_sample`, `ancestral`, `ddim`);
    - `update_ema()`: called after every optimiser step (may do nothing);
    - `sample(n, generator=None, condition=None, sampler="ddim", steps=None)`: n images in [0, 1];
    - `zoo_config.timesteps` (T) and `zoo_config.input_shape()`.
    """

    required: ClassVar[tuple[str, ...]] = ("denoise", "schedule", "update_ema", "sample", "zoo_config.timesteps",
                                           "zoo_config.input_shape")
    export_hooks: ClassVar[tuple[str, ...]] = ("export_module", "export_inputs")
    export_output: ClassVar[str] = "noise"  # the exported graph maps (noisy_image, timestep) to the predicted noise


class DiffusionSampleOptions(SampleOptions):
    """`zoo sample` of a diffusion model: a grid of n samples."""

    sampler: Literal["ddim", "ancestral"] = Field("ddim", description=SAMPLER_HELP)
    steps: int | None = Field(None, ge=1, description=STEPS_HELP)


class DiffusionEvalOptions(GeneratorEvalOptions):
    """`zoo eval` of a diffusion model: generator metrics of n samples drawn by `sampler` and `steps`."""

    sampler: Literal["ddim", "ancestral"] = Field("ddim", description=SAMPLER_HELP)
    steps: int | None = Field(None, ge=1, description=STEPS_HELP)


class ChosenSampler(nn.Module):
    """The model drawing by a chosen sampler and step count, behind the `sample(n, generator, condition)` that
    `zoo.metrics.evaluate` calls."""

    def __init__(self, model: nn.Module, sampler: str, steps: int | None) -> None:
        super().__init__()
        self.model, self.sampler, self.steps = model, sampler, steps

    def sample(self, n: int, generator: torch.Generator | None = None, condition: Any = None) -> torch.Tensor:
        return self.model.sample(n, generator=generator, condition=condition, sampler=self.sampler, steps=self.steps)


class DiffusionTask(Task):
    main_metric: ClassVar[str] = "loss"
    maximize: ClassVar[bool] = False
    SampleOptions: ClassVar[type[SampleOptions]] = DiffusionSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = DiffusionEvalOptions

    surface: ClassVar[type] = DiffusionModel  # what the model must provide

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        require(model, self.surface, "denoising-diffusion")
        super().__init__(model, config, device)
        self.in_chans, height, width = model.zoo_config.input_shape()
        self.input_size = (height, width)
        self.timesteps = model.zoo_config.timesteps

    # ------------------------------------------------------------ data

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        from zoo.data import load_dataset

        return {"images": load_dataset(self.data_config, split).images[:limit]}

    def example_batch(self, n: int, generator: torch.Generator) -> Batch:
        """n random images of the model's input shape in `load_split`'s layout (for `zoo.testing`)."""
        return {"images": torch.randint(0, 256, (n, self.in_chans, *self.input_size), generator=generator,
                                        dtype=torch.uint8)}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """B x C x H x W uint8 (CPU) -> B x in_chans x H x W float in [-1, 1] on the task's device."""
        from zoo.data import prepare_batch

        x = prepare_batch(images.to(self.device), self.input_size, self.in_chans, fit=self.data_config.fit)
        return x * 2.0 - 1.0

    # ------------------------------------------------------------ training

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        x0 = self.prepare(batch["images"])
        t = torch.randint(self.timesteps, (len(x0),)).to(self.device)
        noise = torch.randn(x0.shape).to(self.device)
        x_t = self.model.schedule.q_sample(x0, t, noise)
        loss = F.mse_loss(modules["model"](x_t, t), noise)
        stepper.step(loss)
        self.model.update_ema()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, data: Batch) -> dict[str, float]:
        """The epsilon-prediction MSE of the sampling weights at fixed seeded timesteps and noise (per pixel)."""
        total, pixels = 0.0, 0
        for c, i in enumerate(range(0, len(data["images"]), EVAL_BATCH)):
            x0 = self.prepare(data["images"][i:i + EVAL_BATCH])
            gen = torch.Generator().manual_seed(EVAL_SEED + c)
            t = torch.randint(self.timesteps, (len(x0),), generator=gen).to(self.device)
            noise = torch.randn(x0.shape, generator=gen).to(self.device)
            eps = self.model.denoise(self.model.schedule.q_sample(x0, t, noise), t)
            total += F.mse_loss(eps, noise, reduction="sum").item()
            pixels += noise.numel()
        return {"loss": total / max(pixels, 1)}

    # ------------------------------------------------------------ pictures and samples

    @torch.no_grad()
    def epoch_pictures(self, directory: Path, epoch: int, data: Batch) -> list[Path]:
        """samples/epoch_EEE.png: 64 samples from the same noise every epoch, by `PICTURE_STEPS` DDIM steps."""
        gen = torch.Generator().manual_seed(PICTURE_SEED)
        images = self.model.sample(64, generator=gen, sampler="ddim", steps=PICTURE_STEPS)
        return [save_grid(images.cpu(), directory / "samples" / f"epoch_{epoch:03d}.png")]

    def generate(self, options: DiffusionSampleOptions, condition: Any = None) -> torch.Tensor:
        """`options.n` images in [0, 1], drawn by `options.sampler` from a generator seeded by `options.seed`."""
        gen = torch.Generator().manual_seed(options.seed)
        with torch.no_grad():
            return self.model.sample(options.n, generator=gen, condition=condition, sampler=options.sampler,
                                     steps=options.steps)

    def sample(self, data: Batch | None, options: DiffusionSampleOptions) -> Path:
        """A grid of `options.n` samples, as square as possible."""
        return save_grid(self.generate(options).cpu(), options.out)

    # ------------------------------------------------------------ zoo eval

    def sampler(self, options: DiffusionEvalOptions) -> nn.Module:
        return ChosenSampler(self.model, options.sampler, options.steps)

    def report(self, options: DiffusionEvalOptions, progress: Any = None) -> dict[str, Any]:
        """The generator metrics (default: all) of `options.n` samples (default 10,000) drawn by `options.sampler`."""
        steps = sampling_steps(options.sampler, options.steps, self.timesteps)  # a bad pair fails before any sampling
        return {"sampler": sampler_name(steps, self.timesteps), **self.sample_metrics(options, progress)}

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        return [*super().describe(doc), f"sampled by {doc['sampler']}"]

    def card(self) -> dict[str, Any]:
        ema = self.model.zoo_config.ema
        weights = f"an EMA of the weights (decay {ema})" if ema else "the trained weights"
        return {"data": self.data_config.name, "preprocessing": {"value_range": (0.0, 1.0)},
                "notes": f"Images scaled to [-1, 1] for the diffusion; samples in [0, 1]. Sampling uses {weights}; "
                         f"`zoo sample` draws by 50 DDIM steps (`--steps k`: k), `--sampler ancestral` by all "
                         f"{self.timesteps} steps of Ho et al.'s algorithm 2."}


def sampler_name(ddim_steps: int | None, timesteps: int) -> str:
    """How samples were drawn, for people: `ddim_steps` as `sampling_steps` gives it (None: ancestral)."""
    return f"ancestral, {timesteps} steps" if ddim_steps is None else f"DDIM (eta 0), {ddim_steps} steps"


def save_grid(images: torch.Tensor, out: Path) -> Path:
    """N x C x H x W in [0, 1] -> one PNG, as square as possible, 2 px gaps."""
    from torchvision.utils import save_image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.clamp(0, 1), out, nrow=max(1, math.ceil(math.sqrt(len(images)))), padding=2, pad_value=0.5)
    return out
