"""The diffusion itself: the schedule, both samplers against the exact denoiser of known data, the EMA, the loss."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo_diffusion.schedule import Schedule

TINY = {"channels": 8, "timesteps": 20}


def test_linear_schedule_is_the_papers():
    s = Schedule(1000, 1e-4, 0.02)
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert s.alphas_bar[-1].item() == pytest.approx(math.prod(1 - b for b in betas), rel=1e-4)
    assert s.sqrt_alphas_bar[-1].item() < 0.007  # x_T keeps under 1% of x_0: nearly pure noise, as the paper wants


def test_ddim_steps_are_evenly_spaced_from_the_last_timestep():
    s = Schedule(1000, 1e-4, 0.02)
    assert s.ddim_timesteps(50) == list(range(980, -1, -20))
    assert s.ddim_timesteps(3) == [666, 333, 0]
    assert s.ddim_timesteps(1000) == list(range(999, -1, -1))


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_with_the_exact_denoiser_of_gaussian_data_both_samplers_draw_that_gaussian(sampler):
    """Data N(mu, s^2) per pixel has the closed-form optimal denoiser E[eps | x_t]; sampling with it must give
    back N(mu, s^2): a check of the reverse process that needs no trained network. DDIM runs all T steps here:
    with fewer its ODE steps under-disperse this narrow Gaussian (std 0.177 at 50 steps, 0.194 at 200)."""
    mu, sd, n = 0.3, 0.2, 8000
    s = Schedule(1000, 1e-4, 0.02)

    def exact(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = s.alphas_bar[t].view(-1, 1, 1, 1)
        return (1 - abar).sqrt() * (x - abar.sqrt() * mu) / (abar * sd**2 + 1 - abar)

    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn(n, 1, 1, 1, generator=gen)
    x0 = s.ancestral(exact, x_T, gen) if sampler == "ancestral" else s.ddim(exact, x_T, 1000)
    assert float(x0.mean()) == pytest.approx(mu, abs=0.01)
    assert float(x0.std()) == pytest.approx(sd, abs=0.01)


def test_q_sample_mixes_data_and_noise_by_the_schedule():
    s = Schedule(1000, 1e-4, 0.02)
    x0, noise, t = torch.ones(2, 1, 2, 2), torch.full((2, 1, 2, 2), 2.0), torch.tensor([0, 999])
    x_t = s.q_sample(x0, t, noise)
    for i in range(2):
        a = s.alphas_bar[t[i]]
        assert torch.allclose(x_t[i], a.sqrt() + 2 * (1 - a).sqrt())


def test_ema_follows_the_warmed_up_decay():
    model = zoo.create_model("ddpm", **TINY, ema=0.999)
    with torch.no_grad():
        for p in model.denoiser.parameters():
            p.fill_(1.0)
        for p in model.denoiser_ema.parameters():
            p.zero_()
    model.update_ema()  # first update: decay min(0.999, 1/10) = 0.1
    first = next(model.denoiser_ema.parameters())
    assert torch.allclose(first, torch.full_like(first, 0.9))
    model.ema_updates.fill_(100_000)  # long after the warm-up the configured decay holds
    model.update_ema()
    assert torch.allclose(first, torch.full_like(first, 0.9 + 0.1 * 0.001))
    assert int(model.ema_updates) == 100_001


def test_ancestral_sampling_is_seeded_and_lands_in_the_data_range():
    model = zoo.create_model("ddpm", **TINY).eval()
    a = model.sample(3, generator=torch.Generator().manual_seed(4), sampler="ancestral")
    b = model.sample(3, generator=torch.Generator().manual_seed(4), sampler="ancestral")
    c = model.sample(3, generator=torch.Generator().manual_seed(5), sampler="ancestral")
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 1, 28, 28) and 0.0 <= float(a.min()) and float(a.max()) <= 1.0


@pytest.mark.parametrize("how, message", [
    ({"sampler": "ancestral", "steps": 5}, "ancestral sampling takes all T=20 steps"),
    ({"steps": 21}, "DDIM takes 1 to T=20 steps"),
    ({"steps": 0}, "DDIM takes 1 to T=20 steps"),
    ({"sampler": "plms"}, "choose one of ddim, ancestral"),
])
def test_a_sampler_and_step_count_that_do_not_fit_are_refused_naming_why(how, message):
    model = zoo.create_model("ddpm", **TINY).eval()
    with pytest.raises(ZooError, match=message):
        model.sample(1, **how)


def test_the_untrained_denoiser_scores_one_and_a_few_steps_lower_it():
    """The zero-initialised head predicts eps = 0, whose MSE against unit noise is 1; training must go below."""
    from zoo.engine import distributed
    from zoo.engine.config import compose
    from zoo.engine.trainer import Stepper, build_optimizer
    from zoo.tasks import task_class

    torch.manual_seed(0)
    config = compose("ddpm", {"model": {"config": TINY}, "train": {"lr": 2e-3, "warmup_epochs": 0}})
    model = zoo.create_model("ddpm", **TINY)
    task = task_class("denoising-diffusion")(model, config, torch.device("cpu"))
    data = task.example_batch(400, torch.Generator().manual_seed(0))
    model.eval()
    assert task.evaluate(data)["loss"] == pytest.approx(1.0, abs=0.01)
    modules = task.modules()
    stepper = Stepper({"model": build_optimizer(config.train, model)}, modules, 1.0, distributed.from_env())
    model.train()
    for i in range(30):
        task.train_step({"images": data["images"][i % 10 * 40:(i % 10 + 1) * 40]}, modules, stepper)
    model.eval()
    assert task.evaluate(data)["loss"] < 0.95  # from 1.0, with a standard error of 0.002 on 400 images
