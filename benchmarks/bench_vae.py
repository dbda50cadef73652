"""Autoencoder and VAE figures (issue 10), each measured through the zoo's own commands.

    python benchmarks/bench_vae.py nll --weights vae.mnist --k 5000
        IWAE estimate of the MNIST test NLL (Burda et al. 2015) by `zoo eval --iw-samples K`, with
        the test ELBO and the wall time. Peers: 89.9 nats (Rezende & Mohamed 2015; pythae
        reproduces 89.78), 86.76 nats (VAE of Burda et al. 2015, dynamically binarised MNIST).
    python benchmarks/bench_vae.py stacked --weights stacked_ae.mnist
        Test reconstruction MSE and the linear-probe accuracy of the 150-d codes (`zoo eval
        --linear-probe`: logistic regression on all 60,000 frozen training codes).
    python benchmarks/bench_vae.py semi --init-from stacked_ae.mnist --labels 10 100 --seeds 0 1 2
        Test accuracy of `ae_classifier` on N labels per class, started from the autoencoder's
        encoder (fine-tuned jointly; `--starts frozen` keeps it fixed) against the same classifier
        from scratch; mean and spread.

    python benchmarks/bench_vae.py ship runs/vae.mnist/bundle --tag mnist --out plugins/autoencoders/weights/vae.mnist --eval="--iw-samples 5000"
        Package a run's bundle for shipping: `zoo eval --json` (with the --eval options) measures
        it, its numbers become the card's `test_*` metrics (never typed in), and the manifest entry
        (sha256, size) is printed for registry.yaml.

MNIST must be in $ZOO_HOME/data (`zoo data fetch mnist`). Results: BENCHMARKS.md,
`## Autoencoders and VAEs`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def zoo(*args: str) -> tuple[str, float]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "zoo", *args], check=True, capture_output=True, text=True)
    return proc.stdout, time.time() - start


def eval_json(weights: str, *extra: str) -> tuple[dict, float]:
    out, seconds = zoo("eval", "--weights", weights, "--json", *extra)
    return json.loads(out), seconds


def nll(args: argparse.Namespace) -> None:
    doc, seconds = eval_json(args.weights, "--iw-samples", str(args.k))
    print(f"{doc['model']} ({args.weights}) on {doc['examples']:,} binarised {doc['data']} test digits: "
          f"IWAE NLL (k={args.k}) {doc['nll_iwae']:.2f} nats, test ELBO {doc['elbo']:.2f} nats "
          f"(recon {doc['recon']:.2f}, KL {doc['kl']:.2f}); {seconds / 60:.1f} min")


def stacked(args: argparse.Namespace) -> None:
    doc, seconds = eval_json(args.weights, "--linear-probe")
    print(f"{doc['model']} ({args.weights}): test recon MSE {doc['mse']:.5f} per pixel, BCE {doc['bce']:.4f}; "
          f"linear probe on the codes {doc['linear_probe_accuracy']:.2%}; {seconds:.0f} s")
    print(f"reference, the same probe on the 784 raw pixels: {pixel_probe():.2%}")


def pixel_probe() -> float:
    """The linear probe of `zoo eval --linear-probe`, on raw [0, 1] pixels instead of codes."""
    from zoo.data import load_dataset
    from zoo.tasks.autoencoding import probe_accuracy

    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    return probe_accuracy(train.images.flatten(1).float() / 255, train.labels, test.images.flatten(1).float() / 255, test.labels)


def semi(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for labels in args.labels:
            for start in args.starts:
                accs, secs = [], []
                for seed in args.seeds:
                    out = Path(tmp) / f"{start}-{labels}-{seed}"
                    init = {"encoder": ["--init-from", args.init_from], "scratch": [],
                            "frozen": ["--init-from", args.init_from, "--freeze", "encoder"]}[start]
                    _, seconds = zoo("train", "ae_classifier", "--data", "mnist", "--seed", str(seed), "--quiet",
                                     "--set", f"labels_per_class={labels}", "--set", f"eval_every={args.eval_every}",
                                     "--out", str(out), *init)
                    end = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
                    accs.append(end["eval_accuracy"])
                    secs.append(seconds)
                rows.append((labels, start, accs, statistics.mean(secs)))
                print(f"{labels} labels/class, {start}: " + ", ".join(f"{a:.2%}" for a in accs), flush=True)
    print("\n| labels per class | start | test accuracy, mean ± sd over seeds | per seed | s per run |")
    print("| --- | --- | --- | --- | --- |")
    for labels, start, accs, seconds in rows:
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {labels} | {start} | {statistics.mean(accs):.2%} ± {sd:.2%} | "
              f"{', '.join(f'{a:.2%}' for a in accs)} | {seconds:.0f} |")


def ship(args: argparse.Namespace) -> None:
    import yaml

    from zoo.weights.bundle import package
    from zoo.weights.card import read_bundle_config
    from zoo.weights.safefile import sha256_file

    doc, _ = eval_json(args.bundle, *args.eval_args)
    skip = {"examples", "iw_samples"}
    metrics = {f"{doc['split']}_{k}": float(v) for k, v in doc.items() if isinstance(v, (int, float)) and k not in skip}
    command = " ".join(["zoo eval", doc["model"].split(":")[-1], "--weights", args.bundle, "--json", *args.eval_args])
    path = package(args.bundle, args.out, tag=args.tag, metrics=metrics, overwrite=True,
                   measured_by=f"Metrics measured by `{command}` on {doc['examples']:,} {doc['data']} {doc['split']} images.")
    card = read_bundle_config(path)
    weights = path / "model.safetensors"
    entry = {"tag": args.tag, "path": str(path.resolve().relative_to(Path(__file__).resolve().parents[1] / "plugins")),
             "sha256": sha256_file(weights), "size": weights.stat().st_size, "data": card.data, "metrics": card.metrics}
    print(yaml.safe_dump([entry], sort_keys=False).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figure", required=True)
    p = sub.add_parser("nll")
    p.add_argument("--weights", default="vae.mnist")
    p.add_argument("--k", type=int, default=5000)
    p = sub.add_parser("stacked")
    p.add_argument("--weights", default="stacked_ae.mnist")
    p = sub.add_parser("semi")
    p.add_argument("--init-from", default="stacked_ae.mnist")
    p.add_argument("--labels", type=int, nargs="+", default=[10, 100])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--starts", nargs="+", default=["encoder", "scratch"], choices=["encoder", "frozen", "scratch"],
                   help="encoder: initialised from the autoencoder, fine-tuned jointly; frozen: its encoder kept fixed; scratch: fresh.")
    p.add_argument("--eval-every", type=int, default=100, help="Epochs between evaluations (the last is always evaluated).")
    p = sub.add_parser("ship")
    p.add_argument("bundle")
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--eval", dest="eval_args", type=shlex.split, default=[], help="Options for `zoo eval`, one string.")
    args = parser.parse_args()
    {"nll": nll, "stacked": stacked, "semi": semi, "ship": ship}[args.figure](args)


if __name__ == "__main__":
    main()
