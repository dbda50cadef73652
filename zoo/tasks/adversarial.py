"""Adversarial training: GANs, critics, and the remedies for mode collapse, run by the one engine.

The model's surface (what `plugins/gans` provides; a third-party GAN provides the same):

- `model.generator(z, c)` -> N x C x H x W in [-1, 1]; `c` is a conditional model's label, a
  multi-generator model's generator index, or None;
- `model.discriminator(x, c)` -> (logits N x O, features N x F): O = 1, or k + 1 for MAD-GAN
  (k "made by generator i" classes, then "real"); `features` is D's last hidden layer;
- `model.game()` -> the fields of `Game` (loss, update ratio, constraints, remedies);
- `model.latent_dim`, `model.num_classes` (0: unconditional), `model.noise(n, generator,
  truncation)`, `model.render(z, labels)` -> images in [0, 1], `model.sample(...)`, `model.update_ema()`.

One engine step is one generator iteration of the papers: the batch is cut into `d_steps`
slices, D (the critic) takes one step on each (WGAN clips its weights after every one), then
G takes `g_steps` steps on fresh noise with D frozen: D's parameters have requires_grad off,
so G's backward neither updates nor accumulates into them. Each module has its own optimizer
(`train.optim.<module>.*`). Fakes for D's steps are made under no_grad.

Every evaluation samples a fixed noise batch: FID (`zoo.metrics.fid`) on the zoo's LeNet-5
features against the eval split, and on MNIST the mode coverage as classified by `lenet5.mnist`
(the same network, through the `lenet5_mnist` extractor).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError, ZooError
from zoo.tasks.base import Batch, Stepper, Task

EVAL_SAMPLES = 2000  # samples per evaluation: FID at small n (it is biased upwards at small n; compare like with like)
GRID = 64  # images in the per-epoch grid
CONFIDENT = 0.9  # lenet5.mnist max probability that counts a sample as a legible digit
MODE_SHARE = 0.05  # a digit is covered when at least this share of samples is classed as it
COLLAPSE_MODES = 5  # fewer covered digits than this is warned about as a collapse...
LEGIBLE = 0.5  # ...once at least this share of samples are confidently classed digits (early blobs are not)


class SampleError(ZooError):
    """A sampling option the model cannot honour (a label on an unconditional model, ...)."""


@dataclass(frozen=True)
class Game:
    """How D and G are updated; `model.game()` gives the fields."""

    loss: Literal["non_saturating", "minimax", "least_squares", "wasserstein", "identification"]
    d_steps: int = 1
    g_steps: int = 1
    ema: float = 0.0
    clip_value: float | None = None
    gradient_penalty: float | None = None
    feature_matching: bool = False
    unrolled_steps: int = 0
    label_smoothing: float = 0.0
    generators: int = 1
    matching_aware: bool = False  # GAN-CLS: (real, mismatched condition) is also fake (Reed et al. 2016)
    interpolation: float | None = None  # GAN-INT's beta: G also plays on beta c1 + (1 - beta) c2 of encoded conditions


class AdversarialTask(Task):
    main_metric: ClassVar[str] = "fid"
    maximize: ClassVar[bool] = False
    sample_split: ClassVar[str | None] = None
    scores_with_extractor: ClassVar[bool] = True

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        from zoo.engine.distributed import from_env

        super().__init__(model, config, device)
        self.game = Game(**model.game())
        if self.game.matching_aware and self.game.loss not in ("non_saturating", "minimax"):
            raise ConfigError(f"a matching-aware discriminator needs a log-loss game, not loss={self.game.loss}")
        cfg = model.zoo_config
        self.in_chans, self.image_size = cfg.in_chans, cfg.image_size
        per_rank = config.train.batch_size // from_env().world
        if per_rank % self.game.d_steps:
            raise ConfigError(f"train.batch_size={config.train.batch_size} must split into d_steps={self.game.d_steps} "
                              f"equal slices per process (e.g. batch_size={64 * self.game.d_steps})")
        seed = torch.Generator().manual_seed(config.train.seed)
        self.grid_noise = torch.randn(GRID, model.latent_dim, generator=seed)  # the same batch every epoch
        self.grid_labels = torch.arange(GRID) % model.num_classes if model.num_classes else None
        self._warnings: list[str] = []
        self._extractor: nn.Module | None = None
        self._real: tuple[tuple[int, int], Any] | None = None
        if config.train.eval_extractor_weights is not None:  # weights that cannot be used fail now, not after an epoch
            with torch.random.fork_rng(devices=[]):  # building the LeNet draws from the global generator
                self.extractor()
            self._extractor = None  # loaded at the first evaluation, as lenet5.mnist is: the run trains the same

    # ------------------------------------------------------------------ data

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        from zoo.data import load_dataset

        ds = load_dataset(self.data_config, split)
        return {"images": ds.images[:limit], "labels": ds.labels[:limit]}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """B x C x H x W uint8 -> the model's float images in [-1, 1] (tanh's range) on the task's device."""
        from zoo.data import prepare_batch

        x = prepare_batch(images.to(self.device, non_blocking=True), self.image_size, self.in_chans, fit=self.data_config.fit)
        return x.mul_(2.0).sub_(1.0)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.model.generator, "discriminator": self.model.discriminator}

    # ------------------------------------------------------------------ training

    def fake_condition(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """What G is given besides noise: a label (the real batch's, else uniform), a generator index, or None."""
        if self.model.num_classes:
            return labels if labels is not None else torch.randint(self.model.num_classes, (n,), device=self.device)
        if self.game.generators > 1:
            return torch.arange(n, device=self.device) % self.game.generators
        return None

    def noise(self, n: int) -> torch.Tensor:
        """n x latent_dim from N(0, I). With k generators each vector goes to all k in turn (rows
        k j .. k j + k - 1 share z_j, and row i goes to generator i mod k), as in the MAD-GAN
        authors' code: D must then tell the generators apart on the same z."""
        k = self.game.generators
        return torch.randn(-(-n // k), self.model.latent_dim, device=self.device).repeat_interleave(k, 0)[:n]

    def real_condition(self, batch: Batch) -> torch.Tensor | None:
        """What a real batch is conditioned on (its labels for a conditional model), carried through the slices."""
        return batch["labels"].to(self.device) if self.model.num_classes else None

    def encode(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """A condition as G and D take it (labels as they are; a text task turns caption ids into embeddings)."""
        return condition

    def mismatched(self, condition: torch.Tensor) -> torch.Tensor:
        """A condition per example that is not its own (for the matching-aware D): the batch rolled by one."""
        return condition.roll(1, 0)

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        real = self.prepare(batch["images"])
        labels = self.real_condition(batch)
        slices = list(zip(real.chunk(self.game.d_steps), _chunks(labels, self.game.d_steps)))
        d_metrics: dict[str, torch.Tensor] = {}
        for r, y in slices:
            d_metrics = self.d_step(modules["discriminator"], r, y, stepper)
        d_metrics["d_grad_norm"] = grad_norm(self.model.discriminator)
        g_metrics: dict[str, torch.Tensor] = {}
        for _ in range(self.game.g_steps):
            g_metrics = self.g_step(modules["generator"], slices, stepper)
        g_metrics["g_grad_norm"] = grad_norm(self.model.generator)
        return {"loss": d_metrics.pop("d_loss"), **g_metrics, **d_metrics}

    def d_step(self, d: nn.Module, real: torch.Tensor, labels: torch.Tensor | None, stepper: Stepper) -> dict[str, torch.Tensor]:
        """One update of D on a real slice and as many fresh fakes; clipped afterwards for WGAN."""
        loss, metrics = self.d_loss(d, real, labels)
        stepper.step(loss, "discriminator")
        if self.game.clip_value is not None:
            clip_weights(self.model.discriminator, self.game.clip_value)
        return {"d_loss": loss.detach(), **metrics}

    def d_loss(self, d: nn.Module, real: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        g = self.model.generator
        n = len(real)
        c = self.fake_condition(n, labels)
        real_c, fake_c = self.encode(labels), self.encode(c)
        with torch.no_grad():
            fake = g(self.noise(n), fake_c)
        real_out, _ = d(real, real_c)
        fake_out, _ = d(fake, fake_c)
        game, target = self.game, 1.0 - self.game.label_smoothing  # one-sided: only real targets are smoothed
        metrics: dict[str, torch.Tensor] = {}
        if game.loss in ("non_saturating", "minimax"):
            fake_term = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
            if game.matching_aware:  # Reed et al. algorithm 1: s_r real; s_w (real, wrong) and s_f fake, 1/2 each
                wrong_out, _ = d(real, self.encode(self.mismatched(labels)))
                fake_term = 0.5 * (F.binary_cross_entropy_with_logits(wrong_out, torch.zeros_like(wrong_out)) + fake_term)
                metrics["d_wrong"] = torch.sigmoid(wrong_out).mean().detach()
            loss = F.binary_cross_entropy_with_logits(real_out, torch.full_like(real_out, target)) + fake_term
            d_real, d_fake = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
        elif game.loss == "least_squares":  # Mao et al. eq. 2 with a = 0, b = 1
            loss = 0.5 * ((real_out - target).square().mean() + fake_out.square().mean())
            d_real, d_fake = real_out.mean(), fake_out.mean()
        elif game.loss == "wasserstein":  # the critic maximises E[D(x)] - E[D(G(z))]
            d_real, d_fake = real_out.mean(), fake_out.mean()
            loss = d_fake - d_real
            metrics["wasserstein"] = (d_real - d_fake).detach()
            if game.gradient_penalty:
                penalty = gradient_penalty(d, real, fake, real_c, game.gradient_penalty)
                loss = loss + penalty
                metrics["gradient_penalty"] = penalty.detach()
        else:  # identification: k + 1 classes, real is the last, each class weighted alike (n / k fakes per generator)
            k = game.generators
            real_target = torch.full((n,), k, device=real.device)
            loss = (F.cross_entropy(real_out, real_target, label_smoothing=game.label_smoothing)
                    + k * F.cross_entropy(fake_out, c)) / (k + 1)
            d_real = real_out.softmax(1)[:, k].mean()
            d_fake = fake_out.softmax(1)[:, k].mean()
            metrics["identification"] = (fake_out[:, :k].argmax(1) == c).float().mean()
        return loss, {"d_real": d_real.detach(), "d_fake": d_fake.detach(), **metrics}

    def g_step(self, g: nn.Module, slices: list[tuple[torch.Tensor, torch.Tensor | None]],
               stepper: Stepper) -> dict[str, torch.Tensor]:
        """One update of G against D frozen (or against D advanced `unrolled_steps` steps, then put back).

        As many fakes as one critic slice holds (the papers' m); the first slice is the real
        batch that feature matching compares with.
        """
        d = self.model.discriminator  # unwrapped: D is not updated here, so DDP has nothing to synchronise for it
        saved = self._unroll(slices, stepper) if self.game.unrolled_steps else None
        frozen = [p for p in d.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        real, labels = slices[0]
        try:
            n = len(real)
            c = self.encode(self.fake_condition(n))
            out, features = d(g(self.noise(n), c), c)
            loss = self.g_loss(d, out, features, real, labels)
            if self.game.interpolation is not None:  # GAN-INT: text between two captions, which D has no real pair for
                beta = self.game.interpolation
                mixed = beta * c + (1.0 - beta) * c.roll(1, 0)
                out, features = d(g(self.noise(n), mixed), mixed)
                loss = loss + self.g_loss(d, out, features, real, labels)
            stepper.step(loss, "generator")
        finally:
            for p in frozen:
                p.requires_grad_(True)
        if saved is not None:
            d.load_state_dict(saved[0])
            stepper.optimizers["discriminator"].load_state_dict(saved[1])
        self.model.update_ema()
        return {"g_loss": loss.detach()}

    def g_loss(self, d: nn.Module, out: torch.Tensor, features: torch.Tensor, real: torch.Tensor,
               labels: torch.Tensor | None) -> torch.Tensor:
        game = self.game
        if game.feature_matching:  # Salimans et al. 2016 eq. 4: match D's mean hidden features on real data
            with torch.no_grad():
                _, real_features = d(real, self.encode(labels))
            return (features.mean(0) - real_features.mean(0)).square().sum()
        if game.loss == "non_saturating":
            return F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        if game.loss == "minimax":  # minimise log(1 - D(G(z))) = -softplus(logit)
            return -F.softplus(out).mean()
        if game.loss == "least_squares":  # Mao et al. eq. 2 with c = 1
            return 0.5 * (out - 1.0).square().mean()
        if game.loss == "wasserstein":
            return -out.mean()
        return F.cross_entropy(out, torch.full((len(out),), game.generators, device=out.device))

    def _unroll(self, slices: list[tuple[torch.Tensor, torch.Tensor | None]], stepper: Stepper) -> tuple[dict, dict]:
        """Advance the raw D `unrolled_steps` steps with its own optimizer; returns what puts it back.

        Deviation from Metz et al.: G's gradient does not flow back through the unrolled updates
        (their second-order term is dropped), so the cost is the k extra D steps; G still answers
        the D it is about to face rather than the current one.
        """
        d, opt = self.model.discriminator, stepper.optimizers["discriminator"]
        saved = (copy.deepcopy(d.state_dict()), copy.deepcopy(opt.state_dict()))
        for i in range(self.game.unrolled_steps):
            r, y = slices[i % len(slices)]
            loss, _ = self.d_loss(d, r, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
        return saved

    # ------------------------------------------------------------------ evaluation

    def extractor(self) -> nn.Module:
        """The zoo's LeNet-5 extractor, loaded once: F6 features for FID, class probabilities for coverage.
        On `lenet5.mnist`, or on the LeNet-5 weights `train.eval_extractor_weights` names."""
        if self._extractor is None:
            from zoo.metrics import load_extractor

            self._extractor = load_extractor("lenet5_mnist", self.config.train.eval_extractor_weights)
        return self._extractor

    @torch.no_grad()
    def generate(self, n: int, seed: int) -> torch.Tensor:
        """n samples in [0, 1] from seeded noise (the same for every evaluation of a run)."""
        gen = torch.Generator().manual_seed(seed)
        images = [self.model.sample(min(500, n - i), generator=gen) for i in range(0, n, 500)]
        return torch.cat(images).cpu()

    def evaluate(self, data: Batch) -> dict[str, float]:
        """FID (LeNet-5 features, `EVAL_SAMPLES` samples against as many eval images) and mode coverage, on
        MNIST or when the LeNet-5 was given (`train.eval_extractor_weights`: its classes are the data's)."""
        from zoo.metrics import fid

        n = min(EVAL_SAMPLES, len(data["images"]))
        extractor = self.extractor()
        fake = extractor.embed(self.generate(n, self.config.train.seed + 1))
        key = (data["images"].data_ptr(), n)  # the eval split's features, computed once per run
        if self._real is None or self._real[0] != key:
            self._real = (key, extractor.embed(data["images"][:n]))
        result = {"fid": fid(self._real[1], fake)}
        if self.data_config.name == "mnist" or not extractor.own_weights:  # lenet5.mnist's classes are digits
            result.update(coverage(fake.probs))
            self._check_collapse(result)
        return result

    def _check_collapse(self, result: dict[str, float]) -> None:
        """Warn when the samples are mostly legible digits (so the census means something) but of few kinds."""
        if "modes" in result and result["modes"] < COLLAPSE_MODES and result["confident"] >= LEGIBLE:
            shares = ", ".join(f"{d}: {result[f'share_{d}']:.0%}" for d in range(10) if result[f"share_{d}"] >= MODE_SHARE)
            kinds = "digits" if self.extractor().own_weights else "classes"
            self._warnings.append(f"mode collapse? samples cover only {int(result['modes'])} of 10 {kinds} ({shares})")

    def pop_warnings(self) -> list[str]:
        """Warnings of the last evaluation, for the engine's log (then forgotten)."""
        out, self._warnings = self._warnings, []
        return out

    # ------------------------------------------------------------------ pictures

    def epoch_pictures(self, run: Path, epoch: int, data: Batch) -> None:
        """samples/epoch_NNN.png from the fixed noise batch, and samples.gif of all grids so far."""
        with torch.no_grad():
            labels = self.grid_labels.to(self.device) if self.grid_labels is not None else None
            images = self.model.render(self.grid_noise.to(self.device), labels).cpu()
        folder = run / "samples"
        save_grid(images, folder / f"epoch_{epoch:03d}.png")
        frames = sorted(folder.glob("epoch_*.png"))
        save_gif(frames, run / "samples.gif")

    def plot_curves(self, run: Any) -> Path | None:
        """curves.png: both losses, D(x) and D(G(z)) (and the Wasserstein estimate), gradient norms, evaluations."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = run.records()
        steps = [r for r in records if r["kind"] == "step"]
        evals = [r for r in records if r["kind"] == "eval"]
        if not steps:
            return None
        panels = {"losses": ("loss", "g_loss"), "D outputs": ("d_real", "d_fake", "d_wrong", "wasserstein"),
                  "gradient norms": ("d_grad_norm", "g_grad_norm"),
                  "evaluation": ("modes", "confident", "consistency_train", "consistency_held_out")}
        names = {"loss": "D loss", "g_loss": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))", "d_wrong": "D(x, wrong text)"}
        fig, axes = plt.subplots(1, 4, figsize=(18, 4))
        for axis, (title, keys) in zip(axes, panels.items()):
            rows = evals if title == "evaluation" else steps
            prefix = "eval_" if title == "evaluation" else ""
            for key in keys:
                points = [(r["step"], r[prefix + key]) for r in rows if prefix + key in r]
                if points:
                    axis.plot(*zip(*points), marker="o" if rows is evals else None, label=names.get(key, key))
            axis.set_title(title)
            axis.set_xlabel("step")
            axis.grid(alpha=0.3)
        fid = [(r["step"], r["eval_fid"]) for r in evals if "eval_fid" in r]
        if fid:
            twin = axes[3].twinx()
            twin.plot(*zip(*fid), color="black", marker="s", label="FID (right)")
            twin.legend(loc="upper right")
        for axis in axes:
            if axis.lines:
                axis.legend(loc="upper left")
        fig.tight_layout()
        out = run / "curves.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    def sample(self, data: Batch | None, n: int, out: Path, seed: int = 0, *, label: int | None = None,
               truncation: float | None = None, interpolate: bool = False) -> Path:
        """A grid of n samples (seeded), or with `interpolate` a strip of n steps along a great circle between two noise vectors."""
        model = self.model
        if n < 1:
            raise SampleError(f"--n must be at least 1, got {n}")
        if truncation is not None and truncation <= 0:
            raise SampleError(f"--truncation must be > 0, got {truncation}")
        if label is not None and not model.num_classes:
            raise SampleError(f"{model.zoo_name.split(':')[-1]} is unconditional: --label does not apply")
        if label is not None and not 0 <= label < model.num_classes:
            raise SampleError(f"--label {label} is outside the classes 0..{model.num_classes - 1}")
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            if interpolate:
                ends = model.noise(2, gen, truncation).cpu()
                z = torch.stack([slerp(ends[0], ends[1], t) for t in torch.linspace(0, 1, n).tolist()])
                condition = model.labels(1, label, gen)
                images = model.render(z.to(model_device(model)), None if condition is None else condition.expand(n))
                return save_grid(images.cpu(), out, rows=1)
            images = model.sample(n, generator=gen, condition=label, truncation=truncation)
        return save_grid(images.cpu(), out)

    def card(self) -> dict[str, Any]:
        return {"data": self.data_config.name, "preprocessing": {"value_range": (0.0, 1.0)}}


# ---------------------------------------------------------------------- pieces


def _chunks(t: torch.Tensor | None, k: int) -> list[torch.Tensor | None]:
    return list(t.chunk(k)) if t is not None else [None] * k


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all the module's gradients (0 when none)."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN's constraint: every parameter into [-c, c] (Arjovsky et al. algorithm 1, line 7)."""
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None,
                     weight: float, eps: torch.Tensor | None = None) -> torch.Tensor:
    """lambda * E[(||grad_x^ D(x^)||_2 - 1)^2] at x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample
    (Gulrajani et al. algorithm 1, lines 6-7)."""
    if eps is None:
        eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
    mixed = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    out, _ = critic(mixed, labels)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1.0).square().mean()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (White 2016): the path Gaussian noise vectors keep their norm along."""
    omega = torch.arccos(torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1.0 - t) * a + t * b
    return (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def coverage(probs: torch.Tensor) -> dict[str, float]:
    """Mode coverage of digit samples: share of each class (by argmax), KL from uniform, covered
    digits (share >= 5%), and the share classed with max probability >= 0.9."""
    k = probs.shape[1]
    shares = torch.bincount(probs.argmax(1), minlength=k).double() / len(probs)
    nonzero = shares[shares > 0]
    kl = float((nonzero * (nonzero * k).log()).sum())
    return {"modes": float((shares >= MODE_SHARE).sum()), "kl_uniform": kl,
            "confident": float((probs.max(1).values >= CONFIDENT).double().mean()),
            **{f"share_{d}": float(shares[d]) for d in range(k)}}


def save_grid(images: torch.Tensor, out: Path, rows: int | None = None) -> Path:
    """N x C x H x W in [0, 1] -> one PNG, `rows` rows (default: as square as possible), 2 px gaps."""
    from PIL import Image
    from torchvision.utils import make_grid

    per_row = math.ceil(len(images) / rows) if rows else math.ceil(math.sqrt(len(images)))
    grid = make_grid(images.clamp(0, 1), nrow=per_row, padding=2, pad_value=1.0)
    array = grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if images.shape[1] == 1 else array).save(out)
    return out


def save_gif(frames: list[Path], out: Path) -> Path:
    from PIL import Image

    images = [Image.open(f) for f in frames]
    images[0].save(out, save_all=True, append_images=images[1:], duration=500, loop=0)
    return out
