"""Autoencoding: reconstruct the input; recon error, reconstruction and sample grids, codes for reuse.

Pixels are scaled to [0, 1] and fitted to the model's input size (`zoo.data.prepare_batch`);
`data.normalize` does not apply, since the decoder's sigmoid output and BCE need targets in
[0, 1]. The model's config chooses the reconstruction loss (`recon_loss`: bce or mse, both
per-pixel means, so one learning rate suits both). The main metric is that loss on the
evaluation split.

The model surface this task (and `VariationalTask`) uses: `forward(x)` returning
`logits`/`reconstruction`, `encode`, `decode`, `sample(n, generator, condition)`, and for
autoencoders `fit_prior(codes)`, which fits the Gaussian that `sample` draws codes from.

Beyond training, the task answers `zoo sample` (prior grid, `--reconstruct`, `--interpolate`)
and `zoo eval` (`report`: recon error, `--latent-map`, `--linear-probe`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from pydantic import Field, model_validator

from zoo.errors import ZooError
from zoo.names import resolve
from zoo.surfaces import require
from zoo.surfaces.autoencoder import Autoencoder
from zoo.tasks.base import Batch, Stepper, Task
from zoo.tasks.options import EvalOptions, GeneratorEvalOptions, SampleOptions

EVAL_BATCH = 500
GRID_SEED = 0  # the fixed noise batch and test images of every epoch's grids
PROBE_STEPS = 100  # L-BFGS iterations of the linear probe (converged on MNIST codes well before)


class CodeSampleOptions(SampleOptions):
    """`zoo sample` of an autoencoder or VAE."""

    label: int | None = Field(None, ge=0, description="Conditional models (cvae): the class to draw.")
    interpolate: bool = Field(False, description="A strip of n images walking the code space between two test images.")
    reconstruct: bool = Field(False, description="Test images above their reconstructions.")


class CodeEvalOptions(GeneratorEvalOptions):
    """`zoo eval` of an autoencoder or VAE: its own measures on a split, or with --metrics the sample metrics."""

    split: Literal["test", "val", "train"] = Field("test", description="Split the codes are measured on.")
    latent_map: Path | None = Field(None, description="PNG scatter of the codes coloured by class (PCA beyond 2-d).")
    linear_probe: bool = Field(False, description="Test accuracy of a linear classifier on the frozen codes.")

    @model_validator(mode="after")
    def _codes_or_samples(self) -> CodeEvalOptions:
        if self.metrics is not None and (self.latent_map is not None or self.linear_probe):
            raise ValueError("--latent-map and --linear-probe read codes: give them without --metrics")
        return self


class AutoencodingTask(Task):
    main_metric: ClassVar[str] = "loss"
    maximize: ClassVar[bool] = False
    surface: ClassVar[type] = Autoencoder  # what the model must provide (zoo.surfaces.autoencoder)
    SampleOptions: ClassVar[type[SampleOptions]] = CodeSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = CodeEvalOptions

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        super().__init__(model, config, device)
        require(model, self.surface, resolve(config.model.name)[0].entry.task)
        self.in_chans, height, width = model.zoo_config.input_shape()
        self.input_size = (height, width)
        self.classes: list[str] = []

    # ------------------------------------------------------------ data

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        from zoo.data import load_dataset

        ds = load_dataset(self.data_config, split)
        self.classes = list(ds.classes)
        return {"images": ds.images[:limit], "labels": ds.labels[:limit]}

    def example_batch(self, n: int, generator: torch.Generator) -> Batch:
        """n random images of the model's input shape in `load_split`'s layout (for `zoo.testing`); the
        labels go through a conditional model's classes in turn, and are all 0 otherwise."""
        images = torch.randint(0, 256, (n, self.in_chans, *self.input_size), generator=generator, dtype=torch.uint8)
        conditional = getattr(self.model, "condition_type", None) == "label"
        return {"images": images, "labels": torch.arange(n) % (self.model.zoo_config.condition_classes if conditional else 1)}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """B x C x H x W uint8 (CPU) -> B x in_chans x H x W float in [0, 1] on the task's device."""
        from zoo.data import prepare_batch

        return prepare_batch(images.to(self.device), self.input_size, self.in_chans, fit=self.data_config.fit)

    # ------------------------------------------------------------ training

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        x = self.prepare(batch["images"])
        out = modules["model"](x)
        loss = self.recon_loss(out.logits, x)
        stepper.step(loss)
        return {"loss": loss.detach(), "mse": F.mse_loss(out.reconstruction.detach(), x)}

    def recon_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.model.zoo_config.recon_loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, x)
        return F.mse_loss(torch.sigmoid(logits), x)

    @torch.no_grad()
    def evaluate(self, data: Batch) -> dict[str, float]:
        """Per-pixel BCE and MSE of the clean reconstructions; refits the Gaussian `sample` draws codes from."""
        bce = mse = 0.0
        codes = []
        n = len(data["images"])
        for i in range(0, n, EVAL_BATCH):
            x = self.prepare(data["images"][i:i + EVAL_BATCH])
            out = self.model(x)
            bce += F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum").item()
            mse += F.mse_loss(out.reconstruction, x, reduction="sum").item()
            codes.append(out.code)
        if codes:
            self.model.fit_prior(torch.cat(codes))
        pixels = max(n, 1) * self.in_chans * self.input_size[0] * self.input_size[1]
        metrics = {"bce": bce / pixels, "mse": mse / pixels}
        return {"loss": metrics[self.model.zoo_config.recon_loss], **metrics}

    # ------------------------------------------------------------ pictures

    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code of each image (N x code size)."""
        return self.model.encode(x)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(self.codes(x, labels))

    @torch.no_grad()
    def epoch_pictures(self, directory: Path, epoch: int, data: Batch) -> list[Path]:
        """Called by the engine after each evaluation: grids/recon-EEE.png and grids/samples-EEE.png."""
        grids = directory / "grids"
        n = min(8, len(data["images"]))
        recon = self._recon_grid(data["images"][:n], data["labels"][:n])
        samples = self.model.sample(64, generator=torch.Generator().manual_seed(GRID_SEED))
        return [save_grid(recon, grids / f"recon-{epoch:03d}.png", n),
                save_grid(samples, grids / f"samples-{epoch:03d}.png", 8)]

    def _recon_grid(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Inputs above their reconstructions, a row each: 2n x C x H x W."""
        x = self.prepare(images)
        return torch.cat([x, self.reconstruct(x, labels.to(self.device))]).cpu()

    @torch.no_grad()
    def sample(self, data: Batch | None, options: CodeSampleOptions) -> Path:
        """A grid of n samples from the prior (or `label`); test images over their reconstructions;
        or an n-step walk through code space between two test images."""
        n, out, label = options.n, options.out, options.label
        if label is not None:
            self.check_label(label)
        if options.interpolate and options.reconstruct:
            raise ZooError("choose one of --interpolate and --reconstruct")
        gen = torch.Generator().manual_seed(options.seed)
        if not (options.interpolate or options.reconstruct):
            images = self.model.sample(n, generator=gen, condition=label).cpu()
            return save_grid(images, out, max(1, math.ceil(math.sqrt(n))))
        test = data if data is not None else self.load_split("test")
        pick = torch.randperm(len(test["images"]), generator=gen)
        if options.reconstruct:
            cols = max(1, math.ceil(math.sqrt(n)))
            idx = pick[:n]
            x = self.prepare(test["images"][idx])
            recon = self.reconstruct(x, test["labels"][idx].to(self.device))
            rows = [t for i in range(0, n, cols) for t in (x[i:i + cols], recon[i:i + cols])]
            rows = [torch.cat([r, r.new_zeros(cols - len(r), *r.shape[1:])]) for r in rows]  # a short last row stays a row
            return save_grid(torch.cat(rows).cpu(), out, cols)
        return save_grid(self.walk(test, pick[:2], max(n, 2), label), out, max(n, 2))

    def generate(self, options: CodeSampleOptions, condition: Any = None) -> torch.Tensor:
        if options.interpolate or options.reconstruct:
            raise ZooError("--interpolate and --reconstruct make pictures (zoo sample), not a batch of samples")
        label = options.label if condition is None else condition
        if isinstance(label, int):
            self.check_label(label)
        with torch.no_grad():
            return self.model.sample(options.n, generator=torch.Generator().manual_seed(options.seed), condition=label)

    def walk(self, test: Batch, pair: torch.Tensor, steps: int, label: int | None) -> torch.Tensor:
        """Decoded codes on the straight line between the codes of two test images (steps x C x H x W)."""
        x = self.prepare(test["images"][pair])
        labels = test["labels"][pair].to(self.device)
        a, b = self.codes(x, labels)
        t = torch.linspace(0, 1, steps, device=self.device).unsqueeze(1)
        return self.decode_codes((1 - t) * a + t * b, label if label is not None else int(labels[0])).cpu()

    def decode_codes(self, z: torch.Tensor, label: int | None) -> torch.Tensor:
        return self.model.decode(z)

    def check_label(self, label: int) -> None:
        """--label on a model that is not conditional is refused here (a conditional task overrides)."""
        raise ZooError(f"--label needs a conditional model; {self.model.zoo_name} is not conditional")

    # ------------------------------------------------------------ zoo eval

    @torch.no_grad()
    def all_codes(self, data: Batch) -> torch.Tensor:
        chunks = [self.codes(self.prepare(data["images"][i:i + EVAL_BATCH]), data["labels"][i:i + EVAL_BATCH].to(self.device))
                  for i in range(0, len(data["images"]), EVAL_BATCH)]
        return torch.cat(chunks).float().cpu()

    def report(self, options: CodeEvalOptions, progress: Any = None) -> dict[str, Any]:
        """`zoo eval`'s numbers: with `metrics`, the sample metrics of the prior's samples; else the task's
        evaluation of the first `n` examples of `split`, plus the latent map and the linear probe if asked."""
        if options.metrics is not None:
            return self.sample_metrics(options, progress)
        data = self.load_split(options.split, options.n)
        result: dict[str, Any] = {"data": self.data_config.name, "split": options.split, "examples": len(data["images"]),
                                  **self.codes_report(data, options)}
        self.extras(data, result, options.latent_map, options.linear_probe)
        return result

    def codes_report(self, data: Batch, options: CodeEvalOptions) -> dict[str, Any]:
        """The measures of the model on `data` (a VAE adds the IWAE bound)."""
        return dict(self.evaluate(data))

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        if "extractor" in doc:
            return super().describe(doc)
        skip = {"data", "split", "examples"}
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in doc.items() if k not in skip)
        return [f"{self.model.zoo_name} on {doc['data']} {doc['split']} ({doc['examples']:,} examples): {shown}"]

    def extras(self, data: Batch, result: dict[str, Any], latent_map: Path | None, linear_probe: bool) -> None:
        if latent_map is not None:
            result["latent_map"] = str(draw_latent_map(self.all_codes(data), data["labels"], latent_map,
                                                      self.classes, self.model.zoo_name))
        if linear_probe:
            train = self.load_split("train")
            result["linear_probe_accuracy"] = probe_accuracy(self.all_codes(train), train["labels"],
                                                             self.all_codes(data), data["labels"])

    def card(self) -> dict[str, Any]:
        return {"data": self.data_config.name, "preprocessing": {"value_range": (0.0, 1.0)}}


def save_grid(images: torch.Tensor, out: Path, nrow: int) -> Path:
    from torchvision.utils import save_image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.clamp(0, 1), out, nrow=nrow, padding=2, pad_value=0.5)
    return out


def project_2d(codes: torch.Tensor) -> tuple[torch.Tensor, str]:
    """N x d codes -> N x 2: the codes themselves when d <= 2, else their first two principal components."""
    if codes.shape[1] == 1:
        return torch.cat([codes, torch.zeros_like(codes)], 1), "code"
    if codes.shape[1] == 2:
        return codes, "code"
    centred = codes - codes.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T, "PCA of the codes"


def draw_latent_map(codes: torch.Tensor, labels: torch.Tensor, out: Path, classes: list[str], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy, what = project_2d(codes)
    fig, ax = plt.subplots(figsize=(7, 6))
    k = int(labels.max()) + 1
    points = ax.scatter(xy[:, 0].numpy(), xy[:, 1].numpy(), c=labels.numpy(), cmap="tab10" if k <= 10 else "tab20",
                        vmin=-0.5, vmax=k - 0.5, s=2, alpha=0.7)  # one colour band per class, centred on its tick
    bar = fig.colorbar(points, ax=ax, ticks=range(k))
    if classes:
        bar.set_ticklabels([c.split(" - ")[0] for c in classes][:k])
    ax.set_title(f"{title}: {len(codes):,} test codes ({what}, {codes.shape[1]}-d)", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def probe_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
                   test_labels: torch.Tensor, weight_decay: float = 1e-4) -> float:
    """Test accuracy of a multinomial logistic regression on frozen, standardised codes (full-batch L-BFGS)."""
    mean, std = train_codes.mean(0), train_codes.std(0).clamp_min(1e-6)
    a, b = (train_codes - mean) / std, (test_codes - mean) / std
    k = int(max(train_labels.max(), test_labels.max())) + 1
    linear = nn.Linear(a.shape[1], k)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=PROBE_STEPS, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(linear(a), train_labels) + weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return float((linear(b).argmax(1) == test_labels).float().mean())
