"""`zoo list` start-up: against timm's listing, and with 100 third-party plugins installed.

    python benchmarks/bench_list.py [--runs 7]

1. Cold `zoo list` and `zoo list --json` (the installed script, a new process each run) against
   `python -c "import timm; timm.list_models()"`, medians of the same number of runs in this one
   run, with bare `python -c pass` for scale. Goal: zoo ≥ 40× faster. The listing index
   (`zoo.index`) is current after the warm-up run, as it is for a user after any zoo command.
2. Registry scale: P synthetic plugins × 20 models, each a real package with a `.dist-info` whose
   `zoo.plugins` entry point names its manifest (found through importlib.metadata exactly as after
   `pip install`). Goal: 100 plugins within 1.5× of the built-ins-only time; cost linear in models.
3. With `--baseline SITE` (an earlier zoo, `pip install --no-deps --target SITE <checkout>`): `python -m zoo list`
   of this checkout against the same command on the baseline, in the same interleaved rounds. Give the checkout as
   `--candidate SITE` installed the same way for like for like (an editable install resolves `import zoo` through
   setuptools' finder after a failed search of sys.path, a few ms the installed package does not pay).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

_SCRIPT = Path(sys.executable).with_name("zoo")
ZOO = [str(_SCRIPT), "list"] if _SCRIPT.exists() else [sys.executable, "-m", "zoo", "list"]
TIMM = [sys.executable, "-c", "import timm; timm.list_models()"]
PYTHON = [sys.executable, "-c", "pass"]


def run_seconds(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def interleaved_medians(cases: dict[str, tuple[list[str], dict | None]], runs: int) -> dict[str, float]:
    """Median seconds per case; one run of every case per round, so load drift hits all alike."""
    for cmd, env in cases.values():
        run_seconds(cmd, env)  # warm the page cache and the manifest cache
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (cmd, env) in cases.items():
            times[name].append(run_seconds(cmd, env))
    return {name: statistics.median(t) for name, t in times.items()}


def make_plugins(root: Path, n_plugins: int, models_each: int = 20) -> None:
    for i in range(n_plugins):
        pkg = root / f"synth{i:03d}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "nets.py").write_text("")
        models = [{"name": f"synth{i:03d}_net{j:02d}", "task": "classification", "family": f"synth{i:03d}",
                   "summary": "A synthetic model for the registry benchmark.", "input_size": 28, "in_chans": 1,
                   "config": f"synth{i:03d}.nets:Config", "builder": f"synth{i:03d}.nets:Net"}
                  for j in range(models_each)]
        manifest = {"schema_version": 1, "plugin": {"name": f"synth{i:03d}", "version": "1.0"}, "models": models}
        (pkg / "zoo.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        info = root / f"synth{i:03d}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: synth{i:03d}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[zoo.plugins]\nsynth{i:03d} = synth{i:03d}:zoo.yaml\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--baseline", type=Path, help="--target install of an earlier zoo to compare with")
    parser.add_argument("--candidate", type=Path, help="--target install of this checkout (default: as installed)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, tuple[list[str], dict | None]] = {"zoo": (ZOO, None), "json": ([*ZOO, "--json"], None),
                                                           "timm": (TIMM, None), "python": (PYTHON, None)}
        for n in (25, 50, 100):
            site = Path(tmp) / str(n)
            make_plugins(site, n)
            cases[f"{n}"] = (ZOO, {**os.environ, "PYTHONPATH": str(site)})
        if args.baseline is not None:  # both as `python -m zoo list` from a neutral directory
            module = [sys.executable, "-m", "zoo", "list"]
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            cases["module"] = (["env", "-C", tmp, *module],
                               {**env, "PYTHONPATH": str(args.candidate.resolve())} if args.candidate else env)
            cases["baseline"] = (["env", "-C", tmp, *module], {**env, "PYTHONPATH": str(args.baseline.resolve())})
        t = interleaved_medians(cases, args.runs)

    print(f"cold `zoo list`: {t['zoo'] * 1000:.0f} ms, `zoo list --json`: {t['json'] * 1000:.0f} ms; "
          f"`import timm; timm.list_models()`: {t['timm'] * 1000:.0f} ms; `python -c pass`: {t['python'] * 1000:.0f} ms")
    print(f"zoo list is {t['timm'] / t['zoo']:.1f}x faster than timm, zoo list --json {t['timm'] / t['json']:.1f}x "
          f"(medians of {args.runs}, interleaved)")
    for n in (25, 50, 100):
        print(f"{n:3d} plugins x 20 models ({n * 20:4d} models): {t[str(n)] * 1000:.0f} ms = "
              f"{t[str(n)] / t['zoo']:.2f}x built-ins only")
    slope_a = (t["50"] - t["25"]) / 500
    slope_b = (t["100"] - t["50"]) / 1000
    print(f"marginal cost per model: {slope_a * 1e6:.0f} us (500->1000), {slope_b * 1e6:.0f} us (1000->2000)")
    if args.baseline is not None:
        print(f"python -m zoo list: this checkout {t['module'] * 1000:.0f} ms, baseline {t['baseline'] * 1000:.0f} ms "
              f"(ratio {t['module'] / t['baseline']:.2f})")


if __name__ == "__main__":
    main()
