"""Generative metrics: FID, IS, Mode Score, KID, kernel MMD, 1-NN, Wasserstein, precision/recall.

`import zoo.metrics` imports no torch; each name is loaded from its module on first use.

    from zoo.metrics import evaluate, fid, kid, load_extractor

    result = evaluate(generator, "mnist:test", metrics=["fid", "kid"], n=10_000, seed=0)
    result.to_dict()   # {"fid": ..., "kid": {"mean": ..., "std": ...}, "extractor": {...}, ...}

    ext = load_extractor("lenet5_mnist")          # the zoo's own LeNet-5, offline
    fid(real_images, fake_images, extractor=ext)   # B x C x H x W images (uint8, or float in [0, 1])
    fid(real_features, fake_features)              # or N x d feature matrices

Every metric function takes two image tensors or two feature matrices (IS: one), real first.
Images go through a feature extractor, a registry entry that plugins provide (`extractors:`
in a schema-version-2 manifest); the default is `lenet5_mnist`. Results name the extractor:
FIDs on LeNet features are not comparable to FIDs on Inception features.
"""

from __future__ import annotations

from zoo.lazy import lazy_exports

_LAZY = {
    "fid": "zoo.metrics.frechet",
    "kid": "zoo.metrics.kernel",
    "mmd": "zoo.metrics.kernel",
    "inception_score": "zoo.metrics.classifier",
    "mode_score": "zoo.metrics.classifier",
    "one_nn": "zoo.metrics.neighbours",
    "precision_recall": "zoo.metrics.neighbours",
    "wasserstein": "zoo.metrics.transport",
    "evaluate": "zoo.metrics.evaluation",
    "EvalResult": "zoo.metrics.evaluation",
    "METRICS": "zoo.metrics.evaluation",
    "FeatureExtractor": "zoo.metrics.features",
    "Embedding": "zoo.metrics.features",
    "MeanStd": "zoo.metrics.features",
    "ExtractorError": "zoo.metrics.extractors",
    "list_extractors": "zoo.metrics.extractors",
    "load_extractor": "zoo.metrics.extractors",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
