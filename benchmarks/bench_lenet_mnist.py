"""Time-to-99% on MNIST: `zoo train lenet5` (its default recipe) against a plain in-memory loop.

For each seed, in turns (so that load on the machine falls on both alike):
  1. `zoo train lenet5 --seed S` as a fresh process; metrics.jsonl gives each epoch's test
     accuracy and wall time.
  2. benchmarks/plain_lenet_loop.py --seed S (Adam 1e-3, batch 128, in-memory slicing), until it
     reaches 99.0% or --peer-epochs.
Time-to-99% is measured from just before the process is started (imports, data loading and
evaluation included) to the end of the first epoch whose test accuracy is >= 99.0%.

    python benchmarks/bench_lenet_mnist.py --seeds 0 1 2
    python benchmarks/bench_lenet_mnist.py --model lenet5_classic --seeds 0 --no-peer

MNIST must be in $ZOO_HOME/data (`zoo data fetch mnist`). Results: BENCHMARKS.md, `## Training`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 0.99


def run_zoo(model: str, seed: int, extra: list[str], workdir: Path) -> dict:
    out = workdir / f"{model}-{seed}"
    start = time.time()
    subprocess.run([sys.executable, "-m", "zoo", "train", model, "--seed", str(seed), "--out", str(out), "--quiet", *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = time.time() - start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    accs = [r["eval_accuracy"] for r in epochs]
    hit = next((r for r in epochs if r["eval_accuracy"] >= TARGET), None)
    gaps = [b["time"] - a["time"] for a, b in zip(epochs, epochs[1:])]
    return {"seed": seed, "accuracies": accs, "final": records[-1]["eval_accuracy"],
            "epoch_to_99": hit["epoch"] + 1 if hit else None, "time_to_99": hit["time"] - start if hit else None,
            "seconds_per_epoch": statistics.median(gaps) if gaps else None, "total_seconds": total}


def run_peer(seed: int, epochs: int) -> dict:
    start = time.time()
    proc = subprocess.run([sys.executable, str(HERE / "plain_lenet_loop.py"), "--seed", str(seed), "--epochs", str(epochs),
                           "--stop-at", str(TARGET)], check=True, capture_output=True, text=True)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    hit = next((r for r in records if r["test_accuracy"] >= TARGET), None)
    return {"seed": seed, "accuracies": [r["test_accuracy"] for r in records],
            "epoch_to_99": hit["epoch"] if hit else None, "time_to_99": hit["time"] - start if hit else None,
            "seconds_per_epoch": statistics.median(r["epoch_seconds"] for r in records)}


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "not reached" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--peer-epochs", type=int, default=15)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("extra", nargs="*", help="extra `zoo train` arguments (after --)")
    args = ap.parse_args()
    results = {"zoo": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            z = run_zoo(args.model, seed, args.extra, Path(tmp))
            results["zoo"].append(z)
            print(f"zoo train {args.model} seed {seed}: 99% at epoch {z['epoch_to_99']} after {fmt(z['time_to_99'])} s, "
                  f"final {z['final']:.4f}, {fmt(z['seconds_per_epoch'], '.2f')} s/epoch, accuracies {z['accuracies']}",
                  flush=True)
            if not args.no_peer:
                p = run_peer(seed, args.peer_epochs)
                results["peer"].append(p)
                print(f"plain loop seed {seed}: 99% at epoch {p['epoch_to_99']} after {fmt(p['time_to_99'])} s, "
                      f"{p['seconds_per_epoch']:.2f} s/epoch, accuracies {p['accuracies']}", flush=True)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def print_table(results: dict) -> None:
    print("\n| seed | zoo: 99% at epoch | zoo: time to 99% (s) | zoo: final acc | zoo: s/epoch "
          "| peer: 99% at epoch | peer: time to 99% (s) | peer: s/epoch | ratio zoo/peer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, z in enumerate(results["zoo"]):
        p = results["peer"][i] if i < len(results["peer"]) else {}
        ratio = (z["time_to_99"] / p["time_to_99"]) if z["time_to_99"] and p.get("time_to_99") else None
        print(f"| {z['seed']} | {z['epoch_to_99']} | {fmt(z['time_to_99'])} | {z['final']:.2%} | {fmt(z['seconds_per_epoch'], '.2f')} "
              f"| {p.get('epoch_to_99', '-')} | {fmt(p.get('time_to_99'))} | {fmt(p.get('seconds_per_epoch'), '.2f')} "
              f"| {fmt(ratio, '.2f')} |")


if __name__ == "__main__":
    main()
