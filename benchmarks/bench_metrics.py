"""Generative metrics: the MNIST floor, time per metric at 10k vs 10k, and the zoo's FID/KID beside torchmetrics'.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py [--runs 3] [--n 10000]
    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py --floor-only --data cifar10 --extractor-weights RUN/bundle

Floor: the test set (as if generated) against `--n` rows of the training set, every metric on
lenet5_mnist features (or on the LeNet-5 weights given, e.g. one trained on `--data`); one run
per seed (the seed picks the training rows and the metrics' subsets), medians and ranges
reported. Generators are scored apart, by `zoo eval`.

Speed: `zoo.metrics.evaluate` on 10k test images against the training split, with the
training features already cached (the first run computes and caches them, timed apart).
Time per metric is `EvalResult.seconds`; total is the whole call, feature extraction included.

Side by side, in one process, interleaved so load on the shared machine hits both alike:
  same features  zoo.metrics.fid / kid on feature rows, against torchmetrics' metric objects
                 fed the very same rows (a pass-through `feature=` module)
  from images    zoo.metrics.fid / kid given both image sets (each call extracts both), against
                 torchmetrics with the extractor as `feature=`, updated with both image sets
                 (each metric object extracts both); the first n training images on both sides

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from zoo.data import load_dataset
from zoo.metrics import METRICS, evaluate, fid, kid, load_extractor
from zoo.metrics.frechet import FeatureRows
from zoo.metrics.reference import cache_path, reference_embedding

KID_SUBSETS = dict(subsets=100, subset_size=1000)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def flat(doc: dict) -> dict[str, float]:
    """{'kid': {'mean': m, 'std': s}} -> {'kid': m, 'kid std': s}; the main number keeps the metric's name."""
    out = {}
    for key in METRICS:
        value = doc[key]
        if isinstance(value, dict):
            first, *rest = value.items()
            out[key] = first[1]
            out.update({f"{key} {k}": v for k, v in rest})
        else:
            out[key] = value
    return out


def floor_and_speed(test: torch.Tensor, n: int, runs: int, data: str = "mnist", weights: str | None = None) -> None:
    ext = load_extractor(weights=weights)
    path = cache_path(data, "train", ext)
    path.unlink(missing_ok=True)
    _, first = timed(lambda: reference_embedding(f"{data}:train", ext))
    print(f"reference features, {data} train, computed once and cached: {first:.1f} s\n")
    values: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(runs):
        result, total = timed(lambda: evaluate(test[:n], f"{data}:train", n=n, seed=seed, extractor=ext))
        for k, v in flat(result.to_dict()).items():
            values.setdefault(k, []).append(v)
        for k, v in {**result.seconds, "total (incl. test features)": total}.items():
            seconds.setdefault(k, []).append(v)
    print(f"| metric: {data} test vs train, {n:,} vs {n:,}, lenet5_mnist on {weights or 'lenet5.mnist'} "
          "| median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in values.items():
        print(f"| {k} | {statistics.median(v):.4g} | {min(v):.4g} | {max(v):.4g} |")
    print(f"\n| metric ({n:,} vs {n:,}) | median s | min s | max s |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in seconds.items():
        print(f"| {k} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} |")


def torchmetrics_on_rows(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    f = FrechetInceptionDistance(feature=FeatureRows(x.shape[1]))
    k = KernelInceptionDistance(feature=FeatureRows(x.shape[1]), **KID_SUBSETS)
    for metric in (f, k):
        metric.update(x, real=True)
        metric.update(y, real=False)
    torch.manual_seed(seed)
    return float(f.compute()), float(k.compute()[0])


def torchmetrics_on_images(ext, real: torch.Tensor, fake: torch.Tensor, seed: int) -> tuple[float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    f = FrechetInceptionDistance(feature=ext)
    k = KernelInceptionDistance(feature=ext, **KID_SUBSETS)
    with torch.inference_mode():
        for metric in (f, k):
            for images, is_real in ((real, True), (fake, False)):
                for i in range(0, len(images), 500):
                    metric.update(images[i:i + 500], real=is_real)
    torch.manual_seed(seed)
    return float(f.compute()), float(k.compute()[0])


def side_by_side(test: torch.Tensor, train: torch.Tensor, n: int, runs: int) -> None:
    ext = load_extractor()
    x = reference_embedding("mnist:train", ext).features[:n]
    y = ext.embed(test[:n]).features
    contenders = {
        "zoo, same features": lambda: (fid(x, y), kid(x, y, seed=0, **KID_SUBSETS).mean),
        "torchmetrics, same features": lambda: torchmetrics_on_rows(x, y, seed=0),
        "zoo, from images": lambda: (fid(train[:n], test[:n], extractor=ext),
                                     kid(train[:n], test[:n], extractor=ext, seed=0, **KID_SUBSETS).mean),
        "torchmetrics, from images": lambda: torchmetrics_on_images(ext, train[:n], test[:n], seed=0),
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    results: dict[str, tuple] = {}
    for _ in range(runs):
        for name, fn in contenders.items():
            value, took = timed(fn)
            results[name] = value
            times[name].append(took)
    print(f"\n| {n:,} vs {n:,}, lenet5_mnist | FID | KID mean | median s (FID + KID) | zoo / torchmetrics time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (f, k) in results.items():
        peer = name.replace("zoo", "torchmetrics")
        ratio = statistics.median(times[name]) / statistics.median(times[peer]) if name.startswith("zoo") else None
        shown = f"{ratio:.2f}" if ratio is not None else ""
        print(f"| {name} | {f:.6f} | {k:.6f} | {statistics.median(times[name]):.2f} | {shown} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--data", default="mnist", help="dataset of the floor (the side by side is on MNIST)")
    parser.add_argument("--extractor-weights", help="LeNet-5 weights for lenet5_mnist (default lenet5.mnist)")
    parser.add_argument("--floor-only", action="store_true", help="the floor table only")
    args = parser.parse_args()
    test = load_dataset(args.data, split="test").images
    print(f"torch threads: {torch.get_num_threads()}\n")
    floor_and_speed(test, args.n, args.runs, args.data, args.extractor_weights)
    if not args.floor_only:
        test = test if args.data == "mnist" else load_dataset("mnist", split="test").images
        side_by_side(test, load_dataset("mnist", split="train").images, args.n, args.runs)


if __name__ == "__main__":
    main()
