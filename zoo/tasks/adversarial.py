"""Adversarial training: GANs and critics, run by the one engine; the task owns the schedule.

What a model provides is the public surface `zoo.surfaces.gan.GANSurface` (the networks,
conditioning, sampling, export hooks, `game()` and `objective()`); the loss is the model's
registered objective (`zoo.objectives`). A model lacking part of the surface is refused when
the task is built, naming the member.

One engine step is one generator iteration of the papers: the batch is cut into `d_steps`
slices, D (the critic) takes one step on each against as many fresh fakes made under no_grad
(the objective's `after_d_step` follows each, e.g. WGAN's clipping), then G takes `g_steps`
steps on fresh noise with D frozen: D's parameters have requires_grad off, so G's backward
neither updates nor accumulates into them. Each module has its own optimizer
(`train.optim.<module>.*`). G-side remedies the task runs when `game()` asks: feature matching
(G's loss replaced) and an unrolled D. Conditioning (a label, a generator index, a caption) is
the model's: what a real batch is conditioned on, what fakes are made from, how a condition is
encoded, and the mismatched and interpolated conditions of GAN-CLS and GAN-INT.

Every evaluation samples a fixed noise batch: FID (`zoo.metrics.fid`) on the features of the
extractor `train.eval_extractor` names (default the zoo's LeNet-5, `lenet5_mnist`) against the
eval split, and, when the extractor's classes are the data's (its own weights were trained on
the run's dataset, or `train.eval_extractor_weights` gave weights for it), the mode coverage
of `zoo.metrics.coverage`, with a warning on collapse.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from pydantic import Field

from zoo.errors import ConfigError, ZooError
from zoo.objectives import Critique
from zoo.surfaces import require
from zoo.surfaces.gan import GANSurface
from zoo.tasks.base import Batch, Stepper, Task
from zoo.tasks.options import EvalOptions, GeneratorEvalOptions, SampleOptions

EVAL_SAMPLES = 2000  # samples per evaluation: FID at small n (it is biased upwards at small n; compare like with like)
GRID = 64  # images in the per-epoch grid


class SampleError(ZooError):
    """A sampling option the model cannot honour (a label on an unconditional model, ...)."""


class GANSampleOptions(SampleOptions):
    """`zoo sample` of a GAN."""

    label: int | None = Field(None, ge=0, description="Conditional models (cgan): the class to draw.")
    truncation: float | None = Field(None, gt=0, description="Draw noise from N(0, 1) truncated to [-T, T] (smaller: "
                                                             "more typical, less varied).")
    interpolate: bool = Field(False, description="A strip of n images along a great circle between two noise vectors.")


class AdversarialTask(Task):
    main_metric: ClassVar[str] = "fid"
    maximize: ClassVar[bool] = False
    sample_split: ClassVar[str | None] = None
    scores_with_extractor: ClassVar[bool] = True
    surface: ClassVar[type] = GANSurface  # what `__init__` requires of the model
    name: ClassVar[str] = "adversarial"  # the task's registered name, for refusals
    SampleOptions: ClassVar[type[SampleOptions]] = GANSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = GeneratorEvalOptions

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        from zoo.engine.distributed import from_env

        require(model, self.surface, self.name)
        super().__init__(model, config, device)
        self.game = model.game()
        self.objective = model.objective()
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

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        real = self.prepare(batch["images"])
        condition = self.model.real_condition(batch)
        slices = list(zip(real.chunk(self.game.d_steps), _chunks(condition, self.game.d_steps)))
        d_metrics: dict[str, torch.Tensor] = {}
        for r, y in slices:
            d_metrics = self.d_step(modules["discriminator"], r, y, stepper)
        d_metrics["d_grad_norm"] = grad_norm(self.model.discriminator)
        g_metrics: dict[str, torch.Tensor] = {}
        for _ in range(self.game.g_steps):
            g_metrics = self.g_step(modules["generator"], slices, stepper)
        g_metrics["g_grad_norm"] = grad_norm(self.model.generator)
        return {"loss": d_metrics.pop("d_loss"), **g_metrics, **d_metrics}

    def d_step(self, d: nn.Module, real: torch.Tensor, condition: torch.Tensor | None,
               stepper: Stepper) -> dict[str, torch.Tensor]:
        """One update of D on a real slice and as many fresh fakes, then the objective's constraint on D."""
        loss, metrics = self.d_loss(d, real, condition)
        stepper.step(loss, "discriminator")
        self.objective.after_d_step(self.model.discriminator)
        return {"d_loss": loss.detach(), **metrics}

    def d_loss(self, d: nn.Module, real: torch.Tensor,
               condition: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective's D loss on a real slice (conditioned on `condition`) and n fakes made for it."""
        model, n = self.model, len(real)
        c = model.fake_condition(n, condition)
        real_c, fake_c = model.encode(condition), model.encode(c)
        with torch.no_grad():
            fake = model.generator(model.train_noise(n), fake_c)
        real_out, _ = d(real, real_c)
        fake_out, _ = d(fake, fake_c)
        wrong = model.mismatched(condition)
        wrong_out = d(real, model.encode(wrong))[0] if wrong is not None else None
        if wrong_out is not None and not self.objective.matching_aware:
            raise ConfigError(f"a matching-aware discriminator needs an objective that reads mismatched pairs, not "
                              f"objective={model.zoo_config.objective}")
        critique = Critique(real_out, fake_out, real, fake, critic=lambda x: d(x, real_c)[0], fake_condition=c,
                            wrong_out=wrong_out)
        return self.objective.d_loss(critique)

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
        real, condition = slices[0]
        model = self.model
        try:
            n = len(real)
            c = model.encode(model.fake_condition(n))
            out, features = d(g(model.train_noise(n), c), c)
            loss = self.g_loss(d, out, features, real, condition)
            mixed = model.interpolated(c)  # GAN-INT: between two of the batch's conditions; D has no real pair
            if mixed is not None:
                out, features = d(g(model.train_noise(n), mixed), mixed)
                loss = loss + self.g_loss(d, out, features, real, condition)
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
               condition: torch.Tensor | None) -> torch.Tensor:
        """The objective's G loss on D's logits for the fakes, or with feature matching the distance of D's
        mean hidden features on the fakes from those on the real slice (Salimans et al. 2016, eq. 4)."""
        if self.game.feature_matching:
            with torch.no_grad():
                _, real_features = d(real, self.model.encode(condition))
            return (features.mean(0) - real_features.mean(0)).square().sum()
        real_out = None
        if self.objective.g_uses_real:  # D is frozen: its verdict on real images carries no gradient
            with torch.no_grad():
                real_out, _ = d(real, self.model.encode(condition))
        return self.objective.g_loss(out, real_out)

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
            stepper.step(loss, "discriminator")  # as D's own steps: watched, clipped, scaled under fp16
            self.objective.after_d_step(d)
        opt.zero_grad(set_to_none=True)
        return saved

    # ------------------------------------------------------------------ evaluation

    def extractor(self) -> nn.Module:
        """The extractor `train.eval_extractor` names, loaded once: features for FID, class probabilities for
        coverage. On its own weights, or on those `train.eval_extractor_weights` names."""
        if self._extractor is None:
            from zoo.metrics import load_extractor

            train = self.config.train
            self._extractor = load_extractor(train.eval_extractor, train.eval_extractor_weights)
        return self._extractor

    def classes_apply(self, extractor: Any) -> bool:
        """Whether the extractor's classes are the data's: weights the user gave for the run's data, or its own
        weights when their tag was trained on the run's dataset."""
        if not extractor.num_classes:
            return False
        if not extractor.own_weights:
            return True
        from zoo.metrics.extractors import find_extractor
        from zoo.weights.tags import find_tag

        return find_tag(find_extractor(extractor.name).entry.weights).tag.data == self.data_config.name

    @torch.no_grad()
    def eval_samples(self, n: int, seed: int) -> torch.Tensor:
        """n samples in [0, 1] from seeded noise (the same for every evaluation of a run)."""
        gen = torch.Generator().manual_seed(seed)
        images = [self.model.sample(min(500, n - i), generator=gen) for i in range(0, n, 500)]
        return torch.cat(images).cpu()

    def evaluate(self, data: Batch) -> dict[str, float]:
        """FID (`EVAL_SAMPLES` samples against as many eval images) and, where the extractor's classes are the
        data's, mode coverage (warning on a collapse)."""
        from zoo.metrics import fid
        from zoo.metrics.coverage import collapse_warning, coverage

        n = min(EVAL_SAMPLES, len(data["images"]))
        extractor = self.extractor()
        fake = extractor.embed(self.eval_samples(n, self.config.train.seed + 1))
        key = (data["images"].data_ptr(), n)  # the eval split's features, computed once per run
        if self._real is None or self._real[0] != key:
            self._real = (key, extractor.embed(data["images"][:n]))
        result = {"fid": fid(self._real[1], fake)}
        if self.classes_apply(extractor):
            census = coverage(fake.probs)
            result.update(census)
            warning = collapse_warning(census, f"classes of {extractor.name}")
            if warning is not None:
                self._warnings.append(warning)
        return result

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

    def sample(self, data: Batch | None, options: GANSampleOptions) -> Path:
        """A grid of n samples (seeded), or with `interpolate` a strip of n steps along a great circle between two noise vectors."""
        model, n, label, truncation = self.model, options.n, options.label, options.truncation
        self.check_label(label)
        gen = torch.Generator().manual_seed(options.seed)
        with torch.no_grad():
            if options.interpolate:
                ends = model.noise(2, gen, truncation).cpu()
                z = torch.stack([slerp(ends[0], ends[1], t) for t in torch.linspace(0, 1, n).tolist()])
                condition = model.labels(1, label, gen)
                images = model.render(z.to(model_device(model)), None if condition is None else condition.expand(n))
                return save_grid(images.cpu(), options.out, rows=1)
            images = model.sample(n, generator=gen, condition=label, truncation=truncation)
        return save_grid(images.cpu(), options.out)

    def check_label(self, label: Any) -> None:
        """A label only for a conditional model, and one of its classes."""
        model = self.model
        if label is None:
            return
        if not model.num_classes:
            raise SampleError(f"{model.zoo_name.split(':')[-1]} is unconditional: --label does not apply")
        if isinstance(label, int) and not 0 <= label < model.num_classes:
            raise SampleError(f"--label {label} is outside the classes 0..{model.num_classes - 1}")

    def generate(self, options: GANSampleOptions, condition: Any = None) -> torch.Tensor:
        if options.interpolate:
            raise SampleError("--interpolate makes a picture (zoo sample), not a batch of samples")
        label = options.label if condition is None else condition
        self.check_label(label)
        with torch.no_grad():
            return self.model.sample(options.n, generator=torch.Generator().manual_seed(options.seed), condition=label,
                                     truncation=options.truncation)

    def report(self, options: GeneratorEvalOptions, progress: Any = None) -> dict[str, Any]:
        """FID, IS, KID, ... of `n` samples against the reference split (`zoo.metrics.evaluate`)."""
        return self.sample_metrics(options, progress)

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


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (White 2016): the path Gaussian noise vectors keep their norm along."""
    omega = torch.arccos(torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1.0 - t) * a + t * b
    return (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


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
