"""Text to image (issue 12): gan_cls's figures, and packaging its pretrained bundle.

    python benchmarks/bench_text2image.py compare RUN_DIR [RUN_DIR ...]   # BENCHMARKS.md table rows
    python benchmarks/bench_text2image.py ship RUN_DIR/bundle --tag mnist --out plugins/text2image/weights/gan_cls.mnist
    python benchmarks/bench_text2image.py step --batch-size 64 [--encoder char_cnn]   # CPU seconds per training step

`compare` runs `zoo eval gan_cls --weights RUN/bundle --json` for each run (consistency on the
training and held-out phrasings, thickness and slant agreement, FID on 10,000 samples against
mnist-captions:test on LeNet-5 features) and reads the run's own record for the encoder, the
steps and the wall time (config.yaml written at the start, the bundle at the end).
Each evaluation is kept in RUN/eval.json and reused. `ship` packages a run's bundle as a tagged one carrying the metrics `zoo eval` measured, and
prints the registry entry (sha256, size) to paste into registry.yaml.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("consistency_train", "consistency_held_out", "thickness_agreement", "slant_agreement", "fid")


def eval_json(bundle: str) -> tuple[dict, str]:
    """`zoo eval`'s JSON for the bundle, kept beside it (RUN/eval.json) so `compare` and `ship` measure once."""
    command = ["zoo", "eval", "gan_cls", "--weights", bundle, "--json"]
    saved = Path(bundle).parent / "eval.json"
    if not saved.is_file():
        out = subprocess.run([sys.executable, "-m", "zoo", *command[1:]], capture_output=True, text=True, check=True).stdout
        saved.write_text(out)
    return json.loads(saved.read_text()), " ".join(command)


def run_facts(run: Path) -> dict:
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    end = next(r for r in records if r["kind"] == "end")
    seconds = (run / "bundle" / "model.safetensors").stat().st_mtime - (run / "config.yaml").stat().st_mtime
    return {"encoder": config["model"]["config"]["text_encoder"], "steps": end["step"], "minutes": seconds / 60}


def compare(args: argparse.Namespace) -> None:
    print("| encoder | steps | wall time (min) | consistency, training phrasings | consistency, held-out phrasings "
          "| thickness agreement | slant agreement | FID (LeNet-5, 10k) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in map(Path, args.runs):
        facts = run_facts(run)
        doc, _ = eval_json(str(run / "bundle"))
        print(f"| {facts['encoder']} | {facts['steps']} | {facts['minutes']:.0f} | {doc['consistency_train']:.1%} | "
              f"{doc['consistency_held_out']:.1%} | {doc['thickness_agreement']:.1%} | {doc['slant_agreement']:.1%} | "
              f"{doc['fid']:.2f} |")


def ship(args: argparse.Namespace) -> None:
    import yaml

    from zoo.weights.bundle import package
    from zoo.weights.card import read_bundle_config
    from zoo.weights.safefile import sha256_file

    doc, command = eval_json(args.bundle)
    metrics = {k: float(doc[k]) for k in KEYS}
    path = package(args.bundle, args.out, tag=args.tag, metrics=metrics, overwrite=True,
                   measured_by=f"Metrics measured by `{command}`: consistency by lenet5.mnist on "
                               f"{10 * 50} prompts per phrasing, FID on {doc['n']:,} samples against {doc['reference']}.")
    card = read_bundle_config(path)
    weights = path / "model.safetensors"
    inside = path.resolve().is_relative_to(ROOT / "plugins")  # shipped: relative to the manifest; else a trial
    entry = {"tag": args.tag, "path": str(path.resolve().relative_to(ROOT / "plugins") if inside else path.resolve()),
             "sha256": sha256_file(weights), "size": weights.stat().st_size, "data": card.data, "metrics": card.metrics}
    print(yaml.safe_dump([entry], sort_keys=False).rstrip())


def step(args: argparse.Namespace) -> None:
    """CPU seconds (time.process_time, one thread) per `train_step` of the recipe, after one warm-up step."""
    import tempfile
    import time

    import torch

    from zoo.engine.config import compose
    from zoo.engine.rundir import RunDir
    from zoo.engine.trainer import Trainer

    torch.set_num_threads(1)
    config = compose("gan_cls", {}, {"max_train_examples": 4 * args.batch_size, "max_eval_examples": 100},
                     [f"model.text_encoder={args.encoder}"], data_name="mnist-captions")
    trainer = Trainer(config, RunDir(Path(tempfile.mkdtemp()) / "run"))
    trainer.setup()
    batch = {k: v[:args.batch_size] for k, v in trainer.train_data.items()}
    for module in trainer.modules.values():
        module.train()
    trainer.task.train_step(batch, trainer.wrapped, trainer.stepper)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.steps):
        trainer.task.train_step(batch, trainer.wrapped, trainer.stepper)
    print(f"{args.encoder}, batch {args.batch_size}: {(time.process_time() - cpu) / args.steps:.2f} s CPU per step, "
          f"{(time.perf_counter() - wall) / args.steps:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figure", required=True)
    p = sub.add_parser("compare")
    p.add_argument("runs", nargs="+")
    p = sub.add_parser("step")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--encoder", default="all_minilm_l6_v2")
    p.add_argument("--steps", type=int, default=5)
    p = sub.add_parser("ship")
    p.add_argument("bundle")
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    {"compare": compare, "ship": ship, "step": step}[args.figure](args)


if __name__ == "__main__":
    main()
