"""Reference features: a dataset split run through an extractor once, then read from `$ZOO_HOME`.

The cache file is keyed by dataset, split, extractor name and the sha256 of the extractor's
weights, so new weights can never be served old features. It is safetensors (no pickle),
written to a temporary name and renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import ZooError
from zoo.metrics.features import Embedding, FeatureExtractor, Progress


def parse_reference(reference: str) -> tuple[str, str]:
    """'mnist:test' -> ('mnist', 'test'); a bare dataset name means its test split."""
    dataset, _, split = reference.partition(":")
    if not dataset:
        raise ZooError(f"--reference expects DATASET[:SPLIT] (e.g. mnist:test), got {reference!r}")
    return dataset, split or "test"


def cache_path(dataset: str, split: str, extractor: FeatureExtractor) -> Path:
    from zoo.config import zoo_home

    key = f"{dataset}-{split}-{extractor.name}-{extractor.weights_sha256}"
    return zoo_home() / "cache" / "metrics" / f"{key}.safetensors"


def reference_images_count(reference: str) -> int | None:
    """How many images the split holds if its features are not cached yet (for a progress total)."""
    from zoo.data import DATASETS

    dataset, split = parse_reference(reference)
    info = DATASETS.get(dataset)
    return None if info is None else info.splits.get(split)


def reference_embedding(reference: str, extractor: FeatureExtractor, progress: Progress | None = None) -> Embedding:
    """The split's features and probabilities: from the cache, else computed and cached."""
    dataset, split = parse_reference(reference)
    path = cache_path(dataset, split, extractor)
    if path.is_file():
        return _read(path)
    from zoo.data import load_dataset

    images = load_dataset(dataset, split=split).images
    embedding = extractor.embed(images, progress=progress)
    _write(path, embedding)
    return embedding


def is_cached(reference: str, extractor: FeatureExtractor) -> bool:
    return cache_path(*parse_reference(reference), extractor).is_file()


def _read(path: Path) -> Embedding:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise ZooError(f"reference feature cache {path} is unreadable ({err}); delete it to recompute") from None
    return Embedding(tensors["features"], tensors.get("probs"))


def _write(path: Path, embedding: Embedding) -> None:
    from safetensors.torch import save_file

    tensors = {"features": embedding.features.contiguous()}
    if embedding.probs is not None:
        tensors["probs"] = embedding.probs.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file(tensors, tmp)
    os.replace(tmp, path)
