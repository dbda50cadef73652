"""DDPM (examples/zoo-diffusion-plugin) on MNIST: sample quality along a training run, beside dcgan.mnist; speed.

The plugin must be importable: `pip install ./examples/zoo-diffusion-plugin`, or
`pip install --no-deps --target DIR ./examples/zoo-diffusion-plugin` and `PYTHONPATH=DIR`.

    python benchmarks/bench_ddpm.py train --keep /work/runs-ddpm/recipe
    python benchmarks/bench_ddpm.py measure RUN/snapshots/cpu-0600.safetensors RUN/bundle dcgan.mnist --steps 50
    python benchmarks/bench_ddpm.py speed RUN/bundle

`train`: runs `zoo train ddpm --data mnist --set threads=1 --set checkpoint_every=25` (the model's
own recipe; extra `--set`s appended) as a child process and reads its CPU time (user + system,
/proc) every 0.2 s. When the CPU time passes each of --snapshots (default 600, 1200, 2400 s) the
run is stopped (SIGSTOP) while the weights of its last checkpoint, the last within that budget,
are written to RUN/snapshots/cpu-NNNN.safetensors; the run then finishes its recipe and writes
its bundle. Every epoch's weights (last.safetensors, rewritten at each epoch end) are copied to
RUN/snapshots/epoch-EE.safetensors. CPU time, not wall time, because the machine is shared. RUN/snapshots/cpu.json holds
the CPU seconds at every epoch end and the step of each snapshot.

`measure`: per weights (a snapshot file, a bundle or run directory, or a tag such as dcgan.mnist),
10,000 samples (--n) (seed 0; a diffusion model draws them with `--steps` DDIM steps, default 50, or all
T ancestral steps with `--steps 0`), then FID and KID against as many MNIST test images on the
zoo's LeNet-5 features (`zoo.metrics.evaluate` on the sample tensor), and lenet5.mnist's census of
the same samples: the share it classes with probability >= 0.9 ("confident") and the digit
histogram. One Markdown row per weights; JSON lines appended to --json.

`speed`: CPU seconds per image (time.process_time, one thread, a batch of --batch images) of
ancestral sampling over all T steps and of DDIM over 50 steps.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gans import append_jsonl, checkpoint_weights, model_with, start_training, watch, weights_epoch  # noqa: E402

N_SAMPLES = 10_000
SAMPLE_BATCH = 500


def snapshot_name(budget: float) -> str:
    return f"cpu-{int(budget):04d}.safetensors"


def train(run: Path, budgets: list[float], sets: list[str]) -> dict:
    """The recipe run with a snapshot of its last checkpoint at each CPU-time budget; returns what cpu.json holds."""
    from safetensors.torch import save_file

    from zoo.engine.checkpoint import read_checkpoint

    shots = run / "snapshots"
    child = start_training("ddpm", sets, run)
    epoch_cpu: list[float] = []
    taken: dict[str, dict] = {}
    pending = sorted(budgets)
    for used in watch(child, run, epoch_cpu):
        keep_epoch_weights(run, shots)
        if pending and used >= pending[0]:
            if not (run / "checkpoint.safetensors").is_file():
                child.kill()
                raise SystemExit(f"no checkpoint within {pending[0]:.0f} CPU s: give later --snapshots")
            child.send_signal(signal.SIGSTOP)  # hold the run still while its checkpoint is read
            _, doc = read_checkpoint(run / "checkpoint.safetensors")
            shots.mkdir(parents=True, exist_ok=True)
            save_file(checkpoint_weights(run), str(shots / snapshot_name(pending[0])))
            taken[snapshot_name(pending[0])] = {"cpu_seconds": pending[0], "step": doc["state"]["step"]}
            child.send_signal(signal.SIGCONT)
            print(f"snapshot at {pending[0]:.0f} CPU s: step {doc['state']['step']}", flush=True)
            pending.pop(0)
    _, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"zoo train ddpm failed:\n{err}")
    keep_epoch_weights(run, shots)
    record = {"snapshots": taken, "epoch_end_cpu_seconds": epoch_cpu}
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "cpu.json").write_text(json.dumps(record, indent=1))
    return record


def keep_epoch_weights(run: Path, shots: Path) -> None:
    """Copy the run's last.safetensors (rewritten at every epoch end) to snapshots/epoch-EE.safetensors, once each."""
    import shutil

    last = run / "last.safetensors"
    if not last.is_file():
        return
    epoch = weights_epoch(last)
    target = shots / f"epoch-{epoch:02d}.safetensors"
    if epoch > 0 and not target.is_file():
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(last, target)


def load(weights: str) -> torch.nn.Module:
    """The model of a snapshot file (in RUN/snapshots/, built from RUN/config.yaml), or of any weights zoo loads."""
    from safetensors.torch import load_file

    from zoo.engine.inference import load_trained

    path = Path(weights)
    if path.is_file() and path.parent.name == "snapshots":
        return model_with(path.parent.parent, load_file(str(path)))
    return load_trained(weights).model.eval()


@torch.no_grad()
def draw(model: torch.nn.Module, steps: int | None, n: int = N_SAMPLES) -> tuple[torch.Tensor, float]:
    """n images from seed 0 (`steps` applies to a diffusion model only) and the CPU seconds they took."""
    gen = torch.Generator().manual_seed(0)
    extra = ({} if not hasattr(model, "schedule") else {"sampler": "ancestral"} if steps is None
             else {"sampler": "ddim", "steps": steps})
    start = time.process_time()
    images = torch.cat([model.sample(min(SAMPLE_BATCH, n - i), generator=gen, **extra) for i in range(0, n, SAMPLE_BATCH)])
    return images, time.process_time() - start


def measure(weights: str, steps: int | None, n: int = N_SAMPLES) -> dict:
    from zoo.metrics import evaluate, load_extractor
    from zoo.metrics.coverage import coverage

    model = load(weights)
    images, seconds = draw(model, steps, n)
    scores = evaluate(images, "mnist:test", metrics=["fid", "kid"], n=n, seed=0).to_dict()
    census = coverage(load_extractor("lenet5_mnist").embed(images).probs)
    sampler = ("-" if not hasattr(model, "schedule") else
               f"DDIM {steps}" if steps is not None else f"ancestral {model.zoo_config.timesteps}")
    return {"weights": weights, "sampler": sampler, "n": n, "sampling_cpu_s": round(seconds, 1),
            "fid": round(scores["fid"], 2), "kid": round(scores["kid"]["mean"], 4),
            "kid_std": round(scores["kid"]["std"], 4), "confident": round(census["confident"], 4),
            "histogram": [round(census[f"share_{d}"], 4) for d in range(10)]}


def row(result: dict) -> str:
    hist = " ".join(f"{100 * s:.0f}" for s in result["histogram"])
    return (f"| {result['weights']} | {result['sampler']} | {result['fid']:.2f} | {result['kid']:.3f} ± "
            f"{result['kid_std']:.3f} | {100 * result['confident']:.1f}% | {hist} |")


@torch.no_grad()
def speed(weights: str, batch: int) -> dict:
    """CPU seconds per image of ancestral sampling (all T steps) and of 50 DDIM steps, one thread."""
    model = load(weights)
    out = {"weights": weights, "batch": batch}
    for name, how in (("ancestral", {"sampler": "ancestral"}), ("ddim_50", {"sampler": "ddim", "steps": 50})):
        gen = torch.Generator().manual_seed(0)
        start = time.process_time()
        model.sample(batch, generator=gen, **how)
        out[f"{name}_cpu_s_per_image"] = round((time.process_time() - start) / batch, 4)
    out["timesteps"] = model.zoo_config.timesteps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["train", "measure", "speed"])
    parser.add_argument("weights", nargs="*", help="measure/speed: snapshot files, bundles, run directories or tags")
    parser.add_argument("--keep", type=Path, help="train: the run directory")
    parser.add_argument("--snapshots", type=float, nargs="*", default=[600, 1200, 2400], help="train: CPU seconds")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="train: extra `zoo train --set`")
    parser.add_argument("--steps", type=int, default=50, help="measure: DDIM steps (0: all T ancestral steps)")
    parser.add_argument("--n", type=int, default=N_SAMPLES, help="measure: samples per weights, and real test "
                                                                 "images they are compared with")
    parser.add_argument("--batch", type=int, default=64, help="speed: images per sampling call")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("ddpm.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mode == "train":
        if args.keep is None:
            parser.error("train needs --keep RUN_DIR")
        record = train(args.keep, args.snapshots, args.sets)
        append_jsonl(args.json, {"mode": "train", "run": str(args.keep), "sets": args.sets, **record})
        print(json.dumps(record), flush=True)
        return
    if args.mode == "speed":
        for weights in args.weights:
            result = speed(weights, args.batch)
            append_jsonl(args.json, {"mode": "speed", **result})
            print(json.dumps(result), flush=True)
        return
    size = f"{args.n // 1000}k" if args.n % 1000 == 0 else str(args.n)
    print(f"| weights | sampler | FID (LeNet, {size}) | KID (LeNet, {size}) | confident | histogram 0-9 (%) |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for weights in args.weights:
        result = measure(weights, args.steps or None, args.n)
        append_jsonl(args.json, {"mode": "measure", **result})
        print(row(result), flush=True)


if __name__ == "__main__":
    main()
