"""`zoo train lenet5` start-up: process start to the first training step, this checkout against a baseline.

    python benchmarks/bench_startup.py --baseline SITE [--runs 7]

SITE is an earlier zoo installed with `pip install --no-deps --target SITE <checkout>`. Each
run starts `python -m zoo train lenet5 --data mnist` in a new process (MNIST already in the
cache) with `log_every=1`, and stops it when metrics.jsonl holds its first step record: what
the user waits for before training starts (imports, registry, config, data in memory, model,
optimizer, and the first step itself). Runs alternate between the two, and the medians are of
the same number of runs in this one run. One torch thread each, so the machine's other core
load touches both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["-m", "zoo", "train", "lenet5", "--data", "mnist", "--quiet", "--set", "log_every=1", "--set", "threads=1"]


def first_step_seconds(env: dict[str, str], workdir: Path) -> float:
    out = workdir / f"run-{time.monotonic_ns()}"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *ARGS, "--out", str(out)], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "metrics.jsonl"
    try:
        while True:
            if metrics.is_file() and any(json.loads(line).get("kind") == "step"
                                         for line in metrics.read_text().splitlines() if line.strip()):
                return time.perf_counter() - start
            if proc.poll() is not None:
                raise RuntimeError(f"the run ended (exit {proc.returncode}) before its first step")
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="--target install of the zoo to compare with")
    parser.add_argument("--candidate", type=Path, help="--target install of this checkout, for like for like "
                                                       "(default: as installed, e.g. editable)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    mine = {**base_env, "PYTHONPATH": str(args.candidate.resolve())} if args.candidate else base_env
    cases = {"this checkout": mine, "baseline": {**base_env, "PYTHONPATH": str(args.baseline.resolve())}}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for env in cases.values():
            first_step_seconds(env, Path(tmp))  # warm the page cache, the manifest cache and the listing index
        for _ in range(args.runs):
            for name, env in cases.items():
                times[name].append(first_step_seconds(env, Path(tmp)))
    now, before = (statistics.median(times[n]) for n in cases)
    print(f"zoo train lenet5, process start to first step: this checkout {now:.2f} s, baseline {before:.2f} s "
          f"(ratio {now / before:.2f}; medians of {args.runs}, interleaved)")


if __name__ == "__main__":
    main()
