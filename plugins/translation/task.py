"""The `image-to-image` task: two-domain data in, one or two generators and their discriminators trained.

Data is a two-domain dataset (`zoo_plugins.translation.pairs`): domain A's `sources` beside domain
B's `images`. `data.pairing` picks the view: paired (each A with its own B, what pix2pix and
super-resolution learn from) or unpaired (B shuffled apart from A with a seeded permutation fixed
for the run; the cycle models never see which B belongs to which A). Auto is the model's own kind;
a paired model on an unpaired view, or a view the dataset does not offer, is refused in one line.
Both domains are fed on tanh's [-1, 1] scale (`data.normalize` does not apply).

One engine step is the model's `translation_step` (its losses, D then G, each network its own
optimizer). The evaluation after every epoch, per direction the model translates, on the first
`EVAL_SAMPLES` examples of the eval split:

- `fid_<dir>`: FID of the translations against the target domain's images, on the features of a
  LeNet-5: `lenet5.mnist` where the target domain is MNIST (and then `label_<dir>`: the share of
  translations that classifier reads as the source image's label), else `train.eval_extractor_weights`
  when given (a LeNet-5 the user trained on the target domain: `zoo train lenet5 --data mnist-m`),
  else `lenet5.mnist`'s features without labels;
- `cycle_l1_<dir>`: mean |G_ba(G_ab(x)) - x| on the [0, 1] scale, for cycle models;
- `psnr_<dir>`, `ssim_<dir>`: against the paired target (paired data only; for 'ab');
- `bicubic_*`: the same for the model's non-learned baseline, where it has one (super-resolution).

`fid_ab` chooses the best weights. `zoo eval` reports the same on the test split (all of it by
default), with `--classifier-a` / `--classifier-b` naming the LeNet-5 bundles of each domain.
`zoo sample` writes rows of test inputs over their translations (and reconstructions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from zoo.errors import ConfigError, ZooError
from zoo.surfaces import require
from zoo.tasks.base import Batch, Stepper, Task
from zoo.tasks.options import EvalOptions, SampleOptions

from zoo_plugins.translation.surface import TranslationSurface

EVAL_SAMPLES = 2000  # examples per per-epoch evaluation (FID is biased upwards at small n: compare like with like)
PICTURE = 8  # inputs in the per-epoch picture
PERMUTATION_SEED = {"train": 101, "val": 102, "test": 103}  # the unpaired view's shuffle of B, per split
MNIST_CLASSIFIER = "lenet5.mnist"


class TranslationSampleOptions(SampleOptions):
    """`zoo sample` of a translation model: rows of test inputs, their translations (and reconstructions)."""

    n: int = Field(16, ge=1, le=256, description="Test inputs shown, one column each.")
    direction: Literal["ab", "ba"] = Field("ab", description="ab: domain A -> B; ba: B -> A (cycle models).")


class TranslationEvalOptions(EvalOptions):
    """`zoo eval` of a translation model: per direction, FID, label preservation, cycle L1, PSNR/SSIM."""

    classifier_a: str | None = Field(None, description="LeNet-5 bundle (or tag) trained on domain A: its features "
                                                       "score FID of B -> A translations and its labels their "
                                                       "label preservation (default lenet5.mnist when A is MNIST).")
    classifier_b: str | None = Field(None, description="The same for domain B (e.g. a run of `zoo train lenet5 "
                                                       "--data mnist-m`).")


class ImageToImageTask(Task):
    main_metric: ClassVar[str] = "fid_ab"
    maximize: ClassVar[bool] = False
    sample_split: ClassVar[str | None] = "test"
    scores_with_extractor: ClassVar[bool] = True
    surface: ClassVar[type] = TranslationSurface
    SampleOptions: ClassVar[type[SampleOptions]] = TranslationSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = TranslationEvalOptions

    def __init__(self, model: nn.Module, config: Any, device: torch.device) -> None:
        require(model, self.surface, "image-to-image")
        super().__init__(model, config, device)
        self.dataset = two_domain_class(config.data.name)
        self.pairing = choose_pairing(model, self.dataset, config.data.pairing)
        check_shapes(model, self.dataset)
        if len(model.translation_modules()) > 2 and config.train.precision == "fp16":
            raise ConfigError(f"train.precision=fp16: {model.zoo_name.split(':')[-1]}'s generators share one loss "
                              "and one backward, which one GradScaler per optimizer cannot scale; use bf16")
        self._extractors: dict[str, Any] = {}
        self._real: dict[str, tuple[tuple[int, int], Any]] = {}

    # ------------------------------------------------------------------ data

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        """{'sources': A, 'images': B, 'labels': A's labels, 'labels_b': B's}, B shuffled apart for an unpaired
        view; evaluation splits of a dataset that pairs also keep 'targets', the B paired with each A."""
        from zoo.data import load_dataset

        ds = load_dataset(self.data_config, split)
        a, b, labels = ds.sources[:limit], ds.images[:limit], ds.labels[:limit]
        batch = {"sources": a, "images": b, "labels": labels, "labels_b": labels}
        if self.pairing == "unpaired":
            order = torch.randperm(len(b), generator=torch.Generator().manual_seed(
                self.config.train.seed + PERMUTATION_SEED[split]))
            batch["images"], batch["labels_b"] = b[order], labels[order]
        if split != "train" and "paired" in self.dataset.pairings:
            batch["targets"] = b
        return batch

    def example_batch(self, n: int, generator: torch.Generator) -> Batch:
        """n random examples of the model's shapes in `load_split`'s layout (for `zoo.testing`)."""
        cfg = self.model.zoo_config
        a = torch.randint(0, 256, (n, *cfg.domain_shape("a")), generator=generator, dtype=torch.uint8)
        b = torch.randint(0, 256, (n, *cfg.domain_shape("b")), generator=generator, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=generator)
        return {"sources": a, "images": b, "labels": labels, "labels_b": labels, "targets": b}

    def prepare(self, images: torch.Tensor, domain: str) -> torch.Tensor:
        """B x C x H x W uint8 -> the domain's shape on tanh's [-1, 1] scale, on the task's device."""
        from zoo.data import prepare_batch

        chans, height, _ = self.model.zoo_config.domain_shape(domain)
        x = prepare_batch(images.to(self.device, non_blocking=True), height, chans, fit=self.data_config.fit)
        return x.mul_(2.0).sub_(1.0)

    def modules(self) -> dict[str, nn.Module]:
        return self.model.translation_modules()

    # ------------------------------------------------------------------ training

    def train_step(self, batch: Batch, modules: dict[str, nn.Module], stepper: Stepper) -> dict[str, torch.Tensor]:
        a, b = self.prepare(batch["sources"], "a"), self.prepare(batch["images"], "b")
        return self.model.translation_step(a, b, modules, stepper)

    # ------------------------------------------------------------------ evaluation

    def extractor(self, domain: str, weights: str | None = None) -> tuple[Any, bool]:
        """(LeNet-5 features for `domain` ('a' or 'b'), whether its classes are that domain's): `weights` when
        given, else train.eval_extractor_weights for B, else lenet5.mnist (whose classes apply to MNIST only)."""
        from zoo.metrics import load_extractor

        name = self.dataset.domains[0 if domain == "a" else 1]
        if weights is None and domain == "b":
            weights = self.config.train.eval_extractor_weights
        key = f"{domain}:{weights}"
        if key not in self._extractors:
            with torch.random.fork_rng(devices=[]):  # building the LeNet draws from the global generator
                self._extractors[key] = load_extractor(self.config.train.eval_extractor, weights)
        return self._extractors[key], weights is not None or name == "mnist"

    @torch.no_grad()
    def measure(self, data: Batch, n: int, classifiers: dict[str, str | None] | None = None) -> dict[str, float]:
        """The metrics of the module docstring on the first n examples of `data`."""
        from zoo.metrics import fid

        model, classifiers = self.model, classifiers or {}
        result: dict[str, float] = {}
        for direction in model.directions:
            src, dst = ("a", "b") if direction == "ab" else ("b", "a")
            x = data["sources" if src == "a" else "images"][:n]
            labels = data["labels" if src == "a" else "labels_b"][:n]
            real = data["images" if dst == "b" else "sources"][:n]
            out = self.translated(x, src, direction)
            extractor, labelled = self.extractor(dst, classifiers.get(dst))
            real_emb = self.real_embedding(direction, real, extractor)
            candidates = {"": out}
            baseline = model.baseline(self.prepare(x, src)) if direction == "ab" else None
            if baseline is not None:
                candidates["bicubic_"] = baseline.add(1).div(2).clamp(0, 1).cpu()
            for prefix, images in candidates.items():
                emb = extractor.embed(images)
                result[f"{prefix}fid_{direction}"] = fid(real_emb, emb)
                if labelled:
                    result[f"{prefix}label_{direction}"] = float((emb.probs.argmax(1) == labels).double().mean())
                if "targets" in data and direction == "ab":
                    target = self.prepare(data["targets"][:n], "b").add(1).div(2).cpu()
                    result[f"{prefix}psnr_{direction}"], result[f"{prefix}ssim_{direction}"] = psnr_ssim(images, target)
            rec = self.reconstructed(x, src, direction)
            if rec is not None:
                source01 = self.prepare(x, src).add(1).div(2).cpu()
                result[f"cycle_l1_{direction}"] = float((rec - source01).abs().mean())
        return result

    def real_embedding(self, direction: str, real: torch.Tensor, extractor: Any) -> Any:
        key = (real.data_ptr(), len(real))  # the eval split's features, computed once per run
        held = self._real.get(direction)
        if held is None or held[0] != key:
            held = (key, extractor.embed(real))
            self._real[direction] = held
        return held[1]

    def translated(self, x: torch.Tensor, src: str, direction: str) -> torch.Tensor:
        """uint8 source images -> translations in [0, 1] on the CPU, 500 at a time."""
        return torch.cat([self.model.translate(self.prepare(x[i:i + 500], src).add(1).div(2), direction).cpu()
                          for i in range(0, len(x), 500)])

    def reconstructed(self, x: torch.Tensor, src: str, direction: str) -> torch.Tensor | None:
        if len(self.model.directions) < 2:
            return None
        parts = [self.model.reconstruct(self.prepare(x[i:i + 500], src), direction) for i in range(0, len(x), 500)]
        return torch.cat(parts).add(1).div(2).clamp(0, 1).cpu()

    def evaluate(self, data: Batch) -> dict[str, float]:
        return self.measure(data, min(EVAL_SAMPLES, len(data["sources"])))

    def report(self, options: TranslationEvalOptions, progress: Any = None) -> dict[str, Any]:
        """The evaluation of the module docstring on the test split (its first `n`; default all of it)."""
        data = self.load_held_split("test", options.n)
        n = len(data["sources"])
        classifiers = {"a": options.classifier_a, "b": options.classifier_b}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(options.seed)
            result = self.measure(data, n, classifiers)
        named = {d: c or (MNIST_CLASSIFIER if self.dataset.domains[i] == "mnist" else f"{MNIST_CLASSIFIER} "
                                                                                      "(features only)")
                 for i, (d, c) in enumerate(classifiers.items())}
        return {"split": "test", "n": n, "pairing": self.pairing, "classifier_a": named["a"],
                "classifier_b": named["b"], **result}

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        head = (f"{self.model.zoo_name}: {doc['n']} test examples of {self.data_config.name} ({doc['pairing']}); "
                f"features of {doc['classifier_b']} for B, {doc['classifier_a']} for A")
        rows = [f"  {k}: {v:.4f}" for k, v in doc.items() if isinstance(v, float)]
        return [head, *rows]

    # ------------------------------------------------------------------ pictures

    @torch.no_grad()
    def picture(self, data: Batch, direction: str, index: torch.Tensor) -> torch.Tensor:
        """Rows of inputs, translations (and reconstructions), all as RGB at the larger side: K x 3 x H x W."""
        src = "a" if direction == "ab" else "b"
        x = data["sources" if src == "a" else "images"][index]
        inputs = self.prepare(x, src).add(1).div(2).cpu()
        rows = [inputs, self.translated(x, src, direction)]
        rec = self.reconstructed(x, src, direction)
        if rec is not None:
            rows.append(rec)
        side = max(r.shape[-1] for r in rows)
        fitted = [nn.functional.interpolate(r, size=(side, side), mode="nearest") if r.shape[-1] != side else r
                  for r in rows]
        return torch.cat([r.expand(-1, 3, -1, -1) if r.shape[1] == 1 else r for r in fitted])

    def epoch_pictures(self, directory: Path, epoch: int, data: Batch) -> list[Path]:
        """samples/epoch_EEE.png: the first PICTURE eval inputs over their translations (and reconstructions),
        one block per direction."""
        index = torch.arange(min(PICTURE, len(data["sources"])))
        blocks = [self.picture(data, d, index) for d in self.model.directions]
        return [save_rows(torch.cat(blocks), len(index), directory / "samples" / f"epoch_{epoch:03d}.png")]

    def sample(self, data: Batch | None, options: TranslationSampleOptions) -> Path:
        """`options.n` seeded test inputs over their translations (and reconstructions) in `options.direction`."""
        assert data is not None
        self.model._check_direction(options.direction)
        count = len(data["sources"])
        index = torch.randperm(count, generator=torch.Generator().manual_seed(options.seed))[:options.n]
        return save_rows(self.picture(data, options.direction, index), len(index), options.out)

    def generate(self, options: SampleOptions, condition: Any = None) -> torch.Tensor:
        raise ZooError(f"{self.model.zoo_name} translates images rather than drawing them: model.translate(x), "
                       "`zoo translate TAG INPUT --out FILE`, or `zoo sample TAG` for a picture of test inputs")

    def card(self) -> dict[str, Any]:
        ds = self.dataset
        return {"data": self.data_config.name, "preprocessing": {"value_range": (0.0, 1.0)},
                "notes": f"Data: {ds.summary}. Built by the zoo: {ds.source}. View: {self.pairing}. Domains: "
                         f"A = {ds.domains[0]}, B = {ds.domains[1]}; images in [0, 1], fed on [-1, 1]."}


# ---------------------------------------------------------------------- pieces


def two_domain_class(name: str) -> type:
    """The dataset class `name` means; one without domain-A images is refused naming the two-domain ones."""
    from zoo.data.catalog import dataset_class, dataset_names

    cls = dataset_class(name)
    if not hasattr(cls, "domains") or not hasattr(cls, "pairings"):
        offered = [n for n in dataset_names() if hasattr(dataset_class(n), "pairings")]
        raise ConfigError(f"data.name={name}: the image-to-image task trains on two-domain datasets "
                          f"({', '.join(offered)}), not {cls.name}")
    return cls


def choose_pairing(model: nn.Module, dataset: type, asked: str) -> str:
    pairing = model.pairing if asked == "auto" else asked
    who = model.zoo_name.split(":")[-1]
    if pairing == "unpaired" and model.pairing == "paired":
        raise ConfigError(f"data.pairing=unpaired: {who} learns from paired data (each input with its own target); "
                          "use data.pairing=paired or a cycle model (cyclegan, discogan)")
    if pairing not in dataset.pairings:
        raise ConfigError(f"data.pairing={pairing}: {dataset.name} offers {' and '.join(dataset.pairings)} only")
    return pairing


def check_shapes(model: nn.Module, dataset: type) -> None:
    """The model's two domains are the data's, else one line saying which field to set."""
    cfg = model.zoo_config
    (ca, sa, _), (cb, sb, _) = cfg.domain_shape("a"), cfg.domain_shape("b")
    if dataset.source_chans != ca:
        raise ConfigError(f"{dataset.name}'s domain A ({dataset.domains[0]}) has {dataset.source_chans} channel(s); "
                          f"set model.chans_a={dataset.source_chans} (the model takes {ca})")
    if dataset.in_chans != cb:
        raise ConfigError(f"{dataset.name}'s domain B ({dataset.domains[1]}) has {dataset.in_chans} channel(s); "
                          f"set model.chans_b={dataset.in_chans} (the model makes {cb})")
    if dataset.image_size != sb or dataset.source_size != sa:
        raise ConfigError(f"{dataset.name} pairs {dataset.source_size} px A images with {dataset.image_size} px B; "
                          f"the model maps {sa} px to {sb} px (set model.image_size)")


def psnr_ssim(images: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Mean per-image PSNR (dB) and SSIM (Gaussian 11 x 11, sigma 1.5) on the [0, 1] scale, 500 images at a time."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    mse = (images - targets).square().flatten(1).mean(1).clamp_min(1e-10)
    psnr = float((10 * torch.log10(1.0 / mse)).mean())
    ssim = torch.cat([structural_similarity_index_measure(images[i:i + 500].double(), targets[i:i + 500].double(),
                                                          data_range=1.0, reduction="none").flatten()
                      for i in range(0, len(images), 500)])
    return psnr, float(ssim.mean())


def save_rows(images: torch.Tensor, per_row: int, out: Path) -> Path:
    """K x 3 x H x W in [0, 1] -> one PNG, `per_row` images a row, 2 px gaps."""
    from torchvision.utils import save_image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.clamp(0, 1), out, nrow=per_row, padding=2, pad_value=1.0)
    return out
