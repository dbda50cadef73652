"""Issue 26's figures: a TPE sweep of lenet5 on MNIST against the default recipe, `zoo lr-find` against the recipes'
learning rates, and the logging overhead of tensorboard + mlflow against jsonl only.

    python benchmarks/bench_sweep.py --out bench-sweep            # every stage, results in bench-sweep/results.json
    python benchmarks/bench_sweep.py --stages logging --out b     # one stage

Stages (each a fresh `zoo` process, timed from just before it starts):
  sweep    `zoo sweep lenet5` with --trials (20) TPE trials over lr (log 1e-4..3e-2), weight decay (0..0.1), batch
           size {64, 128, 256} and label smoothing (0..0.2), --pruner none (so the wall time is 20 whole trials),
           at the size given by --epochs/--train-examples; then one `zoo train lenet5` of the default recipe at the
           same size. Reports the best trial (chosen on val) and its test accuracy beside the default's, the sweep's
           wall time, the sum of its trials' own run times, and 20 x the one zoo train's wall time.
  lr-find  `zoo lr-find lenet5 --data mnist` and `zoo lr-find vgg11_bn --data cifar10` (200 steps each): the
           suggested lr beside the recipe's.
  logging  one lenet5 config trained with train.loggers=[jsonl] and [jsonl, tensorboard, mlflow] in turns (--repeats
           each), log_every 10; steps/s between the first and the last step record of metrics.jsonl.
MNIST and CIFAR-10 must be in $ZOO_HOME/data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SPACE = """\
train.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
train.weight_decay: {type: float, low: 0.0, high: 0.1}
train.batch_size: {type: categorical, choices: [64, 128, 256]}
train.label_smoothing: {type: float, low: 0.0, high: 0.2}
"""


def zoo(*args: str, log: Path) -> float:
    """Run `zoo ARGS` to its end; its wall time."""
    start = time.time()
    with log.open("a") as handle:
        handle.write(f"\n$ zoo {' '.join(args)}\n")
        handle.flush()
        subprocess.run([sys.executable, "-m", "zoo", *args], check=True, stdout=handle, stderr=handle)
    return time.time() - start


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def size_args(a: argparse.Namespace, examples: int | None = None) -> list[str]:
    """The trials' size: a subset of the training split, the whole validation (6,000) and test (10,000) splits."""
    examples = examples or a.train_examples
    return ["--data", "mnist", "--epochs", str(a.epochs), "--set", f"threads={a.threads}",
            *(["--set", f"max_train_examples={examples}"] if examples else [])]


def stage_sweep(a: argparse.Namespace, out: Path, log: Path) -> dict:
    space = out / "space.yaml"
    space.write_text(SPACE)
    sweep_dir = out / "sweep"
    table = out / "sweep.json"
    start = time.time()
    with table.open("w") as handle, log.open("a") as err:
        subprocess.run([sys.executable, "-m", "zoo", "sweep", "lenet5", "--space", str(space), "--out", str(sweep_dir),
                        "--trials", str(a.trials), "--pruner", "none", "--json", *size_args(a)],
                       check=True, stdout=handle, stderr=err)
    wall = time.time() - start
    doc = json.loads(table.read_text())
    default_run = out / "default"
    one = zoo("train", "lenet5", "--out", str(default_run), "--quiet", *size_args(a), log=log)
    end = next(r for r in records(default_run) if r["kind"] == "end")
    val = [r["eval_accuracy"] for r in records(default_run) if r["kind"] == "eval"][-1]
    best = doc["best"]
    trials = [t for t in doc["trials"] if t["state"] == "complete"]
    return {"size": {"epochs": a.epochs, "train_examples": a.train_examples, "threads": a.threads, "trials": a.trials},
            "best": {"number": best["number"], "params": best["params"], "val_accuracy": best["value"],
                     "test_accuracy": best["test_accuracy"]},
            "default": {"val_accuracy": val, "test_accuracy": end["eval_accuracy"], "wall_s": round(one, 1)},
            "sweep_wall_s": round(wall, 1), "trials_run_s": round(sum(t["seconds"] for t in doc["trials"]), 1),
            "twenty_trains_s": round(a.trials * one, 1), "completed": len(trials),
            "test_accuracies": sorted(t["test_accuracy"] for t in trials)}


def stage_lr_find(a: argparse.Namespace, out: Path, log: Path) -> dict:
    result = {}
    for model, data in (("lenet5", "mnist"), ("vgg11_bn", "cifar10")):
        target = out / f"lr-find-{model}.json"
        start = time.time()
        with target.open("w") as handle, log.open("a") as err:
            subprocess.run([sys.executable, "-m", "zoo", "lr-find", model, "--data", data, "--json", "--out",
                            str(out / f"lr-find-{model}.png"), "--set", f"threads={a.threads}"],
                           check=True, stdout=handle, stderr=err)
        doc = json.loads(target.read_text())
        result[model] = {"data": data, "suggestion": doc["suggestion"], "recipe_lr": doc["recipe_lr"],
                         "steps": len(doc["lrs"]), "stopped": doc["stopped"], "wall_s": round(time.time() - start, 1)}
    return result


def stage_logging(a: argparse.Namespace, out: Path, log: Path) -> dict:
    setups = {"jsonl": "[jsonl]", "tensorboard+mlflow": "[jsonl,tensorboard,mlflow]"}
    rates: dict[str, list[float]] = {k: [] for k in setups}
    for i in range(a.repeats):
        for name, loggers in setups.items():
            run = out / f"logging-{name}-{i}"
            zoo("train", "lenet5", "--out", str(run), "--quiet", *size_args(a, a.logging_examples), "--epochs", "1",
                "--set", "log_every=10",
                "--set", f"train.loggers={loggers}", log=log)
            steps = [r for r in records(run) if r["kind"] == "step"]
            rates[name].append((steps[-1]["step"] - steps[0]["step"]) / (steps[-1]["time"] - steps[0]["time"]))
    medians = {k: statistics.median(v) for k, v in rates.items()}
    return {"steps_per_s": rates, "median": medians,
            "ratio": medians["tensorboard+mlflow"] / medians["jsonl"], "log_every": 10,
            "train_examples": a.logging_examples, "batch_size": 256}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench-sweep"))
    p.add_argument("--stages", nargs="+", default=["sweep", "lr-find", "logging"])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-examples", type=int, default=None, help="default: the whole training split (54,000)")
    p.add_argument("--logging-examples", type=int, default=30000)
    p.add_argument("--threads", type=int, default=1, help="per process (two on a shared 2-core machine oversubscribe)")
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    results_file = a.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    log = a.out / "log.txt"
    stages = {"sweep": stage_sweep, "lr-find": stage_lr_find, "logging": stage_logging}
    for name in a.stages:
        results[name] = stages[name](a, a.out, log)
        results_file.write_text(json.dumps(results, indent=2))
        print(json.dumps({name: results[name]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
