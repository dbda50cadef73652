"""Variational: train on the negative ELBO, evaluate the test ELBO and the IWAE bound on log p(x).

Objective per example (nats), `objective=elbo`: recon + β·KL, recon = −log p(x|z) with z = mean + std·ε drawn
by the model (reparameterisation), KL = KL(q(z|x) ‖ N(0, I)) in closed form; β ramps
linearly from 0 over `kl_warmup_epochs` when set. The reported ELBO always uses β = 1, so it
is a bound on log p(x) for every variant (β-VAE included).

Binarisation (Bernoulli decoders with `binarize`): every training batch is a fresh Bernoulli
draw of its grey pixels, from the global RNG, whose state every checkpoint carries, so a
resumed run replays the same draws. Evaluation uses one fixed draw of the split: chunk c of
`EVAL_BATCH` images is drawn with seed `EVAL_BINARIZE_SEED + c`, so the first N images of the
test set are binarised alike whatever N is evaluated.

`objective=iwae` trains on the negative importance-weighted bound instead (Burda et al. 2016):
−log (1/k) Σ_i p(x, z_i) / q(z_i|x) with k reparameterised draws z_i per example, which is the
negative ELBO in expectation at k = 1 and tightens towards −log p(x) as k grows.

`iwae` estimates log p(x) by the importance-weighted bound of Burda et al. 2015,
log (1/k) Σ_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), computed `chunk` samples at a time with a
running log-sum-exp, so memory does not grow with k.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from zoo.errors import ZooError
from pydantic import Field

from zoo.names import resolve
from zoo.surfaces import require
from zoo.surfaces.vae import VAE, LabelConditional
from zoo.tasks.autoencoding import EVAL_BATCH, AutoencodingTask, CodeEvalOptions
from zoo.tasks.options import EvalOptions
from zoo.tasks.base import Batch, Stepper

EVAL_BINARIZE_SEED = 0
ELBO_SEED = 1  # the ε of the evaluation ELBO's one-sample estimate
IWAE_SEED = 2
IWAE_SAMPLES = 100  # `zoo eval`'s default k: about half a minute on the MNIST test set on one core
IWAE_ROWS = 20_000  # examples x importance samples decoded at once (about 60 MB of 784-pixel logits)


class VAEEvalOptions(CodeEvalOptions):
    """`zoo eval` of a VAE: test ELBO and the IWAE estimate of log p(x), or with --metrics the sample metrics."""

    iw_samples: int = Field(IWAE_SAMPLES, ge=1, description="Importance samples per image of the IWAE NLL estimate.")


class VariationalTask(AutoencodingTask):
    main_metric: ClassVar[str] = "elbo"
    maximize: ClassVar[bool] = True
    surface: ClassVar[type] = VAE  # what the model must provide (zoo.surfaces.vae)
    EvalOptions: ClassVar[type[EvalOptions]] = VAEEvalOptions

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        super().__init__(model, config, device)
        self.conditional = getattr(model, "condition_type", None) == "label"
        if self.conditional:
            require(model, LabelConditional, resolve(config.model.name)[0].entry.task)
        c = model.zoo_config
        self.binarized = c.likelihood == "bernoulli" and c.binarize

    # ------------------------------------------------------------ training

    def beta(self) -> float:
        """β now: the config's β, ramped from 0 during the KL warm-up (`epoch_progress` is set by the engine)."""
        c = self.model.zoo_config
        if c.kl_warmup_epochs <= 0:
            return c.beta
        return c.beta * min(1.0, self.epoch_progress / c.kl_warmup_epochs)

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        x = self.prepare(batch["images"])
        if self.binarized:
            x = torch.bernoulli(x)  # dynamic binarisation, from the checkpointed global RNG
        if getattr(self.model.zoo_config, "objective", "elbo") == "iwae":
            return self.iwae_step(x, batch, modules, stepper)
        out = modules["model"](x, condition=self.condition(batch["labels"]))
        recon = -self.model.log_likelihood(out.params, x)
        kl = out.posterior.kl()
        loss = (recon + self.beta() * kl).mean()
        stepper.step(loss)
        return {"loss": loss.detach(), "recon": recon.detach().mean(), "kl": kl.detach().mean()}

    def iwae_step(self, x: torch.Tensor, batch: Batch, modules: dict[str, nn.Module],
                  stepper: Stepper) -> dict[str, torch.Tensor]:
        """One step on the negative importance-weighted bound, k draws per example (Burda et al. 2016, eq. 8)."""
        k = self.model.zoo_config.k
        out = modules["model"](x, condition=self.condition(batch["labels"]), samples=k)
        bound = iw_bound(self.model.log_likelihood(out.params, x), out.z, out.posterior)
        loss = -bound.mean()
        stepper.step(loss)
        return {"loss": loss.detach(), "recon": -self.model.log_likelihood(out.params, x).detach().mean(),
                "kl": out.posterior.kl().detach().mean()}

    def condition(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels.to(self.device) if self.conditional else None

    def eval_inputs(self, images: torch.Tensor, chunk: int) -> torch.Tensor:
        """Chunk `chunk` of the evaluation images in [0, 1], binarised by its fixed seed if the model trains binarised."""
        x = self.prepare(images)
        if not self.binarized:
            return x
        gen = torch.Generator().manual_seed(EVAL_BINARIZE_SEED + chunk)
        return torch.bernoulli(x.cpu(), generator=gen).to(self.device)

    def chunks(self, data: Batch) -> Any:
        """(x, condition) per EVAL_BATCH images, x as `eval_inputs` gives it."""
        for c, i in enumerate(range(0, len(data["images"]), EVAL_BATCH)):
            yield self.eval_inputs(data["images"][i:i + EVAL_BATCH], c), self.condition(data["labels"][i:i + EVAL_BATCH])

    @torch.no_grad()
    def evaluate(self, data: Batch) -> dict[str, float]:
        """Test ELBO (nats per example, one seeded z per example), its recon and KL terms, and the training loss."""
        model, gen = self.model, torch.Generator().manual_seed(ELBO_SEED)
        recon = kl = 0.0
        for x, cond in self.chunks(data):
            posterior = model.encode(x, cond)
            z = posterior.rsample(gen)
            recon -= model.log_likelihood(model.decode_params(z, cond), x).sum().item()
            kl += posterior.kl().sum().item()
        n = max(len(data["images"]), 1)
        recon, kl = recon / n, kl / n
        return {"elbo": -(recon + kl), "loss": recon + model.zoo_config.beta * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def iwae(self, data: Batch, k: int, seed: int = IWAE_SEED) -> float:
        """Importance-weighted estimate of −log p(x) with k samples, mean nats per example (Burda et al. 2015)."""
        if k < 1:
            raise ZooError(f"--iw-samples must be at least 1, got {k}")
        model, gen = self.model, torch.Generator().manual_seed(seed)
        total = 0.0
        for x, cond in self.chunks(data):
            posterior = model.encode(x, cond)
            per = max(1, IWAE_ROWS // len(x))  # importance samples per pass
            acc = torch.full((len(x),), -math.inf, device=x.device)
            for start in range(0, k, per):
                s = min(per, k - start)
                eps = torch.randn((s, *posterior.mean.shape), generator=gen).to(x.device)
                z = posterior.mean + torch.exp(0.5 * posterior.logvar) * eps  # s x N x latent
                params = model.decode_params(z.flatten(0, 1), None if cond is None else cond.repeat(s))
                params = params.unflatten(0, (s, len(x)))
                log_w = log_weights(model.log_likelihood(params, x), z, posterior)
                acc = torch.logaddexp(acc, torch.logsumexp(log_w, 0))
            total -= (acc - math.log(k)).sum().item()
        return total / max(len(data["images"]), 1)

    # ------------------------------------------------------------ codes and pictures

    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean of each image."""
        return self.model.encode(x, self.condition(labels) if labels is not None else None).mean

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(self.codes(x, labels), self.condition(labels) if labels is not None else None)

    def decode_codes(self, z: torch.Tensor, label: int | None) -> torch.Tensor:
        return self.model.decode(z, label if self.conditional else None)

    def check_label(self, label: int) -> None:
        if not self.conditional:
            super().check_label(label)  # refuses before reading condition_classes, which only a conditional model has
        k = self.model.zoo_config.condition_classes
        if not 0 <= label < k:
            raise ZooError(f"--label {label} is out of range: {self.model.zoo_name} has labels 0 to {k - 1}")

    def codes_report(self, data: Batch, options: VAEEvalOptions) -> dict[str, Any]:
        result: dict[str, Any] = dict(self.evaluate(data))
        result["nll_iwae"] = self.iwae(data, options.iw_samples)
        result["iw_samples"] = options.iw_samples
        return result

    def card(self) -> dict[str, Any]:
        card = super().card()
        if self.binarized:
            card["notes"] = ("Binarisation: training used dynamic binarisation (a fresh Bernoulli draw of every batch); "
                             f"evaluation uses one fixed draw of the test set (seed {EVAL_BINARIZE_SEED} + chunk index "
                             f"per {EVAL_BATCH} images).")
        return card


def log_weights(log_likelihood: torch.Tensor, z: torch.Tensor, posterior: Any) -> torch.Tensor:
    """log p(x|z) + log p(z) − log q(z|x): k x N importance log-weights of the draws z (k x N x latent)."""
    return log_likelihood + standard_normal_log_prob(z) - posterior.log_prob(z)


def iw_bound(log_likelihood: torch.Tensor, z: torch.Tensor, posterior: Any) -> torch.Tensor:
    """The k-sample importance-weighted bound log (1/k) Σ_i w_i per example (N), from k x N draws; k = 1 is the
    one-sample ELBO."""
    return torch.logsumexp(log_weights(log_likelihood, z, posterior), 0) - math.log(len(z))


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
