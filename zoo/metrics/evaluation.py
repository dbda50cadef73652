"""`evaluate`: every metric of a generator (or a set of images) against a reference split, in one call.

Generated and reference sets are the same size, `n`: the two-sample metrics (1-NN above all,
whose ideal is 50% only for equal halves) compare like with like. The reference's features
come from the cache (`zoo.metrics.reference`); `n` of its rows are drawn with `seed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.metrics.extractors import DEFAULT_EXTRACTOR, load_extractor
from zoo.metrics.features import Embedding, FeatureExtractor

METRICS = ("fid", "is", "mode_score", "kid", "mmd", "one_nn", "wasserstein", "precision", "recall")
NEEDS_PROBS = {"is", "mode_score"}
SAMPLE_BATCH = 500
RANGE_SLACK = 1e-3  # float error a generator's output may carry beyond [0, 1]
LENET_NOTE = ("computed on LeNet-5 MNIST features: comparable only with other results on lenet5_mnist "
              "features, not with FIDs/KIDs on Inception-v3 features")
OTHER_NOTE = "comparable only with results computed on the same extractor and weights"


class UnknownMetricError(ZooError, LookupError):
    """A metric name `evaluate` does not know."""


class ProgressSink(Protocol):
    """Where `evaluate` reports progress (the CLI's progress bar)."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, done: int) -> None: ...


@dataclass
class EvalResult:
    """Scores by metric name, labelled with the extractor that produced them."""

    scores: dict[str, Any]
    extractor: str
    extractor_weights_sha256: str
    reference: str
    n: int
    seed: int
    note: str
    seconds: dict[str, float] = field(default_factory=dict)  # time per metric

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: metric keys, then 'extractor' and how the numbers were made."""
        scores = {k: v._asdict() if hasattr(v, "_asdict") else v for k, v in self.scores.items()}
        return {**scores, "extractor": {"name": self.extractor, "weights_sha256": self.extractor_weights_sha256,
                                        "note": self.note},
                "reference": self.reference, "n": self.n, "seed": self.seed, "seconds": self.seconds}


def parse_metrics(names: str | Iterable[str]) -> tuple[str, ...]:
    """'fid,kid' or ['fid', 'kid'] -> ('fid', 'kid'), checked against METRICS."""
    listed = [m.strip() for m in (names.split(",") if isinstance(names, str) else names) if m.strip()]
    unknown = [m for m in listed if m not in METRICS]
    if unknown or not listed:
        raise UnknownMetricError(f"unknown metric {', '.join(unknown) or '(none given)'}; allowed: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(listed))


def evaluate(generator_or_images: nn.Module | torch.Tensor, reference: str | torch.Tensor = "mnist:test", *,
             metrics: str | Sequence[str] = METRICS, extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
             extractor_weights: str | None = None, n: int = 10_000, seed: int = 0,
             progress: ProgressSink | None = None) -> EvalResult:
    """Scores of a generator (an nn.Module with `sample(n, generator=None, condition=None)`) or of images.

    `reference`: 'DATASET[:SPLIT]' (features cached under $ZOO_HOME) or an image tensor.
    `n`: how many images to generate; an image tensor is used whole. Both sides are cut to the
    smaller size. `seed` fixes the generated images, the reference rows and every metric's subsets.
    """
    wanted = parse_metrics(metrics)
    if n < 2:
        raise ZooError(f"n must be at least 2 (FID needs two samples a side), got {n}")
    ext = extractor if isinstance(extractor, FeatureExtractor) else load_extractor(extractor, extractor_weights)
    if ext.num_classes is None and wanted == parse_metrics(METRICS):  # the default set: what the extractor can score
        wanted = tuple(m for m in wanted if m not in NEEDS_PROBS)
    if NEEDS_PROBS & set(wanted) and ext.num_classes is None:
        raise ZooError(f"extractor '{ext.name}' gives no class probabilities, which the metrics "
                       f"{', '.join(sorted(NEEDS_PROBS & set(wanted)))} need; leave them out of --metrics")
    fake = _fake_embedding(generator_or_images, ext, n, seed, progress)
    real = _reference(reference, ext, progress)
    size = min(len(fake), len(real))
    real = real.take(torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:size])
    fake = fake.take(torch.arange(size))
    scores, seconds = _score(wanted, real, fake, seed, progress)
    label = reference if isinstance(reference, str) else f"{len(reference)} given images"
    note = LENET_NOTE if ext.name == DEFAULT_EXTRACTOR and ext.own_weights else OTHER_NOTE
    return EvalResult(scores, ext.name, ext.weights_sha256, label, size, seed, note, seconds)


def _fake_embedding(source: nn.Module | torch.Tensor, ext: FeatureExtractor, n: int, seed: int,
                    progress: ProgressSink | None) -> Embedding:
    if isinstance(source, torch.Tensor):
        _stage(progress, "features of the given images", len(source))
        return ext.embed(source, progress=progress.advance if progress else None)
    if not callable(getattr(source, "sample", None)):
        raise ZooError(f"{type(source).__name__} has no sample(n, generator=None, condition=None); "
                       "zoo.metrics.evaluate needs a generator or an image tensor")
    _stage(progress, f"sampling {n:,} images", n)
    return _sample_embedding(source, ext, n, seed, progress)


@torch.inference_mode()
def _sample_embedding(model: nn.Module, ext: FeatureExtractor, n: int, seed: int,
                      progress: ProgressSink | None) -> Embedding:
    """Draw `n` images, SAMPLE_BATCH at a time, and keep only their features (the model is put in eval mode)."""
    model.eval()
    # Noise is drawn on the CPU from the seed (and moved by `sample`), whatever the model's device: the same
    # seed gives the same samples on every device, and a CUDA generator would be refused for CPU tensors.
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for start in range(0, n, SAMPLE_BATCH):
        images = model.sample(min(SAMPLE_BATCH, n - start), generator=generator)
        check_value_range(images, type(model).__name__)
        parts.append(ext.embed(images.cpu()))
        if progress is not None:
            progress.advance(len(images))
    probs = [p.probs for p in parts]
    return Embedding(torch.cat([p.features for p in parts]), None if probs[0] is None else torch.cat(probs))


def check_value_range(images: torch.Tensor, source: str) -> None:
    """Samples must be in the data's value range ([0, 1] floats, or uint8): a generator left in tanh's
    [-1, 1] would otherwise be clipped silently and every metric would judge the clipped images."""
    if images.dtype == torch.uint8:
        return
    low, high = float(images.min()), float(images.max())
    if low < -RANGE_SLACK or high > 1 + RANGE_SLACK:
        raise ZooError(f"{source}.sample() returned values in [{low:.3g}, {high:.3g}]; generators must return "
                       "images in the data's value range [0, 1]")


def _reference(reference: str | torch.Tensor, ext: FeatureExtractor, progress: ProgressSink | None) -> Embedding:
    from zoo.metrics.reference import is_cached, reference_embedding, reference_images_count

    if isinstance(reference, torch.Tensor):
        _stage(progress, "features of the reference images", len(reference))
        return ext.embed(reference, progress=progress.advance if progress else None)
    cached = is_cached(reference, ext)
    _stage(progress, f"reference {reference} ({'cached' if cached else 'computing features'})",
           None if cached else reference_images_count(reference))
    return reference_embedding(reference, ext, progress=progress.advance if progress else None)


def _score(wanted: tuple[str, ...], real: Embedding, fake: Embedding, seed: int,
           progress: ProgressSink | None) -> tuple[dict[str, Any], dict[str, float]]:
    """Run each wanted metric once (precision and recall come from one computation), timing each."""
    from zoo.metrics import classifier, frechet, kernel, neighbours, transport

    runs = {
        "fid": lambda: frechet.fid(real, fake),
        "is": lambda: classifier.inception_score(fake),
        "mode_score": lambda: classifier.mode_score(real, fake),
        "kid": lambda: kernel.kid(real, fake, seed=seed),
        "mmd": lambda: kernel.mmd(real, fake, seed=seed),
        "one_nn": lambda: neighbours.one_nn(real, fake),
        "wasserstein": lambda: transport.wasserstein(real, fake, seed=seed),
        "precision_recall": lambda: neighbours.precision_recall(real, fake),
    }
    jobs = list(dict.fromkeys("precision_recall" if m in ("precision", "recall") else m for m in wanted))
    _stage(progress, "metrics", len(jobs))
    scores: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for job in jobs:
        start = time.perf_counter()
        value = runs[job]()
        seconds[job] = round(time.perf_counter() - start, 4)
        if job == "precision_recall":
            scores.update({k: v for k, v in value._asdict().items() if k in wanted})
        else:
            scores[job] = value
        if progress is not None:
            progress.advance(1)
    return {m: scores[m] for m in wanted}, seconds


def _stage(progress: ProgressSink | None, name: str, total: int | None) -> None:
    if progress is not None:
        progress.stage(name, total)
