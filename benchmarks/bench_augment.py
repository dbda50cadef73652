"""Augmentation on CIFAR-10: one model trained with data.augment=none and with flip-crop, same epochs and seed.

    python benchmarks/bench_augment.py [--model nin] [--epochs 10] [--runs DIR] [--set KEY=VALUE ...]

Each case is `zoo train MODEL --data cifar10 --epochs E --set threads=1 --set data.augment=CASE`
(plus any `--set`), run one after the other, then read back from its metrics.jsonl: the test
accuracy of the weights that ship (chosen on the validation hold-out, reported on test), the best
validation accuracy, and the wall time of each epoch (training and its evaluation). A case whose
run directory already holds a finished run is read, not trained again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def summary(run: Path) -> dict:
    rows = records(run)
    ends = [r for r in rows if r["kind"] == "end"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    starts = [r["time"] for r in rows if r["kind"] == "step"][:1]
    times = [b - a for a, b in zip(starts + [e["time"] for e in epochs], [e["time"] for e in epochs])]
    val = [r["eval_accuracy"] for r in rows if r["kind"] == "eval"]
    return {"epochs": len(epochs), "test_accuracy": ends[-1]["eval_accuracy"],  # the end record is the test split's
            "best_val_accuracy": max(val) if val else None,
            "seconds_per_epoch": round(sum(times) / len(times), 1) if times else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nin")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=Path, default=Path("runs-bench-augment"))
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    for augment in ("none", "flip-crop"):
        run = args.runs / f"{args.model}-{augment}"
        if not (run / "bundle/config.json").is_file():
            sets = [x for s in ["threads=1", f"data.augment={augment}", *args.sets] for x in ("--set", s)]
            cmd = [sys.executable, "-m", "zoo", "train", args.model, "--data", "cifar10", "--epochs", str(args.epochs),
                   "--quiet", "--out", str(run), *sets]
            print(" ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True)
        print(json.dumps({"model": args.model, "augment": augment, **summary(run)}), flush=True)


if __name__ == "__main__":
    main()
