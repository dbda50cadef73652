"""GANs on MNIST: FID and mode coverage after a CPU-time budget, CPU seconds per epoch, and shipped weights.

    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py budget dcgan wgan_gp --cpu-seconds 600
    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py budget gan --cpu-seconds 300 --label "gan g_steps=3" --set model.g_steps=3
    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py weights dcgan.mnist cgan.mnist
    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py ship RUN_DIR --out plugins/gans/weights/wgan_gp.mnist
    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py speed dcgan --set train.batch_size=64 --steps 50
    OMP_NUM_THREADS=1 python benchmarks/bench_gans.py table gan:20 lsgan:20 cgan:20 dcgan wgan wgan_gp madgan --keep runs/gans

`budget`: runs `zoo train MODEL --data mnist --set threads=1` (the model's own recipe; extra
`--set`s appended) as a child process, reads its CPU time (user + system, /proc) every 0.2 s
and SIGKILLs it once the budget is spent; the run checkpoints every 25 steps, so the weights
measured are those of the last checkpoint within the budget. CPU time, not wall time, because
the machine is shared: wall time there says more about the neighbours than about the model.
The CPU time at each epoch's end is the "CPU seconds per epoch" figure (it includes the
per-epoch evaluation, 2,000 samples, that `zoo train` does).

`weights`: measures a pretrained tag, bundle or run directory.

`ship`: packages a finished run's bundle as a pretrained tag whose card carries FID by
`zoo eval MODEL --weights BUNDLE --metrics fid --n 10000 --json` and this script's coverage of
10,000 samples, never typed in, and prints the registry entry (sha256, size) for registry.yaml.

`speed`: CPU seconds (time.process_time, one thread) per training step of the adversarial task,
the median of --steps steps after two warm-up steps, on real MNIST batches; times 60,000 / batch
size, the CPU seconds of a 60,000-image epoch without evaluation.

`table`: the per-variant table. One `zoo train` per variant gives both rows: the weights at the
budget (the last checkpoint within --cpu-seconds) and at the end of the variant's own recipe (its
`train.epochs`; the run's last.safetensors, written at every epoch end, copied when that epoch
ends). Every GAN recipe has a constant learning rate, so a run told to go on past its recipe
passes through exactly the recipe's weights: `NAME:E` runs E epochs (for recipes that end inside
the budget, so the run reaches the budget too), and the run stops once both snapshots are taken.
Without `:E` the run is the recipe itself, left to finish with its bundle (what a shipped tag is
made from).

Measurement (both): 10,000 samples (`model.sample`, seed 0) against the 10,000 MNIST test
images: FID on the zoo's LeNet-5 features (`zoo.metrics.fid`, extractor lenet5_mnist), and the
digit histogram of the samples by lenet5.mnist: its KL from uniform, the number of digits above
5%, and the share of samples it classes with max probability >= 0.9 ("confident"). For a model
with k generators (MAD-GAN), also each generator's digit histogram and I(generator; digit).

Prints one Markdown row per run and appends JSON lines to --json (default benchmarks/gans.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

N_SAMPLES = 10_000
POLL = 0.2


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def epoch_ends(run: Path) -> int:
    metrics = run / "metrics.jsonl"
    return metrics.read_text().count('"kind": "epoch"') if metrics.is_file() else 0


def start_training(model: str, sets: list[str], run: Path, epochs: int | None = None) -> subprocess.Popen:
    """`zoo train MODEL --data mnist` on one thread, checkpointing every 25 steps, as a child process."""
    cmd = [sys.executable, "-m", "zoo", "train", model, "--data", "mnist", "--out", str(run), "--quiet",
           "--set", "threads=1", "--set", "checkpoint_every=25", *[a for s in sets for a in ("--set", s)]]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def watch(child: subprocess.Popen, run: Path, epoch_cpu: list[float]):
    """Yields the child's CPU seconds every POLL seconds while it runs, appending them to epoch_cpu at epoch ends."""
    while child.poll() is None:
        try:
            used = cpu_seconds(child.pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        if epoch_ends(run) > len(epoch_cpu):
            epoch_cpu.append(round(used, 1))
        yield used
        time.sleep(POLL)


def train_with_budget(model: str, budget: float, sets: list[str], run: Path) -> dict:
    """`zoo train` until `budget` CPU seconds; returns the CPU seconds at each epoch end and at the kill."""
    child = start_training(model, sets, run)
    epochs: list[float] = []
    used = 0.0
    for used in watch(child, run, epochs):
        if used >= budget:
            child.send_signal(signal.SIGKILL)
            break
    _, err = child.communicate()
    if child.returncode not in (0, -signal.SIGKILL):
        raise SystemExit(f"zoo train {model} failed:\n{err}")
    return {"cpu_seconds": round(min(used, budget), 1), "epoch_end_cpu_seconds": epochs,
            "finished": child.returncode == 0}


def in_process(model: str, sets: list[str], seed: int = 0):
    """(config, network, task, modules, stepper) of `zoo train MODEL --data mnist --set ...` on the CPU,
    for calling `task.train_step` directly: the engine's step without its loop, checkpoints or DDP."""
    import zoo
    from zoo.engine.config import compose
    from zoo.engine.distributed import Dist
    from zoo.engine.trainer import Stepper, build_optimizer
    from zoo.tasks import task_class

    config = compose(model, sets=sets, data_name="mnist")
    spec, _ = zoo.api.resolve(model)
    torch.manual_seed(seed)
    net = zoo.api.build(spec, zoo.api.config_for(spec, config.model.config))
    task = task_class(spec.entry.task)(net, config, torch.device("cpu"))
    modules = task.modules()
    stepper = Stepper({n: build_optimizer(config.train, m, n) for n, m in modules.items()}, modules, None, Dist())
    return config, net, task, modules, stepper


def in_process_parser(doc: str, json_default: str) -> argparse.ArgumentParser:
    """The arguments of the in-process scripts (bench_stacked_mnist, bench_mixtures): MODEL, --seed,
    --set, --json; each adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="extra `zoo train --set`")
    parser.add_argument("--json", type=Path, default=Path(json_default))
    return parser


def append_jsonl(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def report(path: Path, row: dict, metrics: dict[str, torch.Tensor]) -> None:
    """Print one measurement of an in-process run, with the last step's metrics, and append it to `path`."""
    row = {**row, **{k: round(float(v), 3) for k, v in metrics.items()}}
    print(json.dumps(row), flush=True)
    append_jsonl(path, row)


def speed(model: str, sets: list[str], steps: int) -> dict:
    import statistics

    from zoo.data import load_dataset

    config, _, task, modules, stepper = in_process(model, ["threads=1", *sets])
    data, b = load_dataset("mnist", "train"), config.train.batch_size
    times = []
    for i in range(steps + 2):
        batch = {"images": data.images[i * b:(i + 1) * b], "labels": data.labels[i * b:(i + 1) * b]}
        start = time.process_time()
        task.train_step(batch, modules, stepper)
        times.append(time.process_time() - start)
    step = statistics.median(times[2:])
    return {"batch_size": b, "cpu_s_per_step": round(step, 4), "cpu_s_per_epoch": round(step * 60_000 / b, 1)}


def ship(run: Path, out: Path, tag: str) -> dict:
    import yaml

    from zoo.engine.inference import load_trained
    from zoo.weights.bundle import package
    from zoo.weights.safefile import sha256_file

    model = yaml.safe_load((run / "config.yaml").read_text())["model"]["name"].split(":")[-1]
    bundle = run / "bundle"
    command = ["zoo", "eval", model, "--weights", str(bundle), "--metrics", "fid", "--n", str(N_SAMPLES), "--json"]
    doc = json.loads(subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, check=True).stdout)
    census = measure(load_trained(str(bundle)).model)
    metrics = {"fid_lenet_10k": round(float(doc["fid"]), 3), "digits_over_5pct": census["digits_over_5pct"],
               "kl_uniform": census["kl_uniform"], "confident": census["confident"]}
    measured = (f"fid_lenet_10k measured by `{' '.join(command[:4])} <bundle> {' '.join(command[5:])}` (LeNet-5 "
                f"features, {N_SAMPLES:,} samples against the MNIST test set); digits_over_5pct, kl_uniform and "
                f"confident (share of samples lenet5.mnist classes with probability >= 0.9) by "
                f"`python benchmarks/bench_gans.py weights {model}.{tag}` on {N_SAMPLES:,} samples; the test_* metrics "
                f"are the run's last evaluation (2,000 samples). Digit histogram of the samples (%): "
                + " ".join(f"{d}:{100 * share:.1f}" for d, share in enumerate(census["histogram"])) + ".")
    path = package(str(bundle), out, tag=tag, metrics=metrics, license="MIT", measured_by=measured, overwrite=True)
    weights = path / "model.safetensors"
    root = Path(__file__).resolve().parents[1] / "plugins"
    where = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path.resolve()
    return {"tag": tag, "path": str(where), "sha256": sha256_file(weights), "size": weights.stat().st_size,
            "data": "mnist", "metrics": metrics}


def recipe_epochs(model: str, sets: list[str]) -> int:
    from zoo.engine.config import compose

    return compose(model, sets=["threads=1", *sets], data_name="mnist").train.epochs


def weights_epoch(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return int((f.metadata() or {}).get("zoo_epoch", -1))


def train_table(model: str, epochs: int | None, budget: float, sets: list[str], run: Path) -> dict:
    """One run of `model` giving the budget snapshot (run/budget.safetensors) and the recipe one (run/recipe.safetensors)."""
    import shutil

    from zoo.engine.checkpoint import read_checkpoint

    recipe = recipe_epochs(model, sets)
    child = start_training(model, sets, run, epochs)
    epoch_cpu: list[float] = []
    used, budget_at, recipe_at = 0.0, None, None
    for used in watch(child, run, epoch_cpu):
        if budget_at is None and used >= budget:
            child.send_signal(signal.SIGSTOP)  # hold the run still while its checkpoint is copied
            _, doc = read_checkpoint(run / "checkpoint.safetensors")
            torch.save(checkpoint_weights(run), run / "budget.pt")
            budget_at = {"cpu_seconds": round(budget, 1), "step": doc["state"]["step"]}
            child.send_signal(signal.SIGCONT)
        if recipe_at is None and len(epoch_cpu) >= recipe and (run / "last.safetensors").is_file() \
                and weights_epoch(run / "last.safetensors") == recipe:
            shutil.copyfile(run / "last.safetensors", run / "recipe.safetensors")
            recipe_at = {"cpu_seconds": epoch_cpu[recipe - 1], "epochs": recipe}
        if budget_at is not None and recipe_at is not None and epochs is not None:
            child.send_signal(signal.SIGKILL)
            break
    _, err = child.communicate()
    if child.returncode not in (0, -signal.SIGKILL):
        raise SystemExit(f"zoo train {model} failed:\n{err}")
    if recipe_at is None and (run / "last.safetensors").is_file() and weights_epoch(run / "last.safetensors") == recipe:
        shutil.copyfile(run / "last.safetensors", run / "recipe.safetensors")
        recipe_at = {"cpu_seconds": epoch_cpu[recipe - 1] if len(epoch_cpu) >= recipe else round(used, 1),
                     "epochs": recipe}
    if budget_at is None or recipe_at is None:
        raise SystemExit(f"zoo train {model} ended before both snapshots (budget {budget_at}, recipe {recipe_at})")
    return {"budget": budget_at, "recipe": recipe_at, "epoch_end_cpu_seconds": epoch_cpu}


def model_with(run: Path, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    import yaml

    from zoo.api import build, config_for, resolve

    config = yaml.safe_load((run / "config.yaml").read_text())
    spec, _ = resolve(config["model"]["name"])
    model = build(spec, config_for(spec, config["model"]["config"]))
    model.load_state_dict(state)
    return model.eval()


def checkpoint_weights(run: Path) -> dict[str, torch.Tensor]:
    """The model's part of the run's last checkpoint, as a state dict."""
    from zoo.engine.checkpoint import read_checkpoint

    tensors, _ = read_checkpoint(run / "checkpoint.safetensors")
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def model_from_checkpoint(run: Path) -> torch.nn.Module:
    """The model of the run's config with the weights of its last checkpoint."""
    return model_with(run, checkpoint_weights(run))


def measure(model: torch.nn.Module) -> dict:
    """FID (10k vs MNIST test, LeNet features) and lenet5.mnist's census of 10k samples."""
    from zoo.data import load_dataset
    from zoo.metrics import fid, load_extractor
    from zoo.metrics.coverage import coverage

    extractor = load_extractor("lenet5_mnist")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        fake = torch.cat([model.sample(500, generator=gen) for _ in range(N_SAMPLES // 500)])
    real = load_dataset("mnist", "test").images[:N_SAMPLES]
    fake_embedding = extractor.embed(fake)
    census = coverage(fake_embedding.probs)
    result = {"fid": round(fid(extractor.embed(real), fake_embedding), 2),
              "digits_over_5pct": int(census["modes"]), "kl_uniform": round(census["kl_uniform"], 4),
              "confident": round(census["confident"], 4),
              "histogram": [round(census[f"share_{d}"], 4) for d in range(10)]}
    if getattr(model.config, "num_generators", 1) > 1:
        result.update(generator_census(model, extractor))
    return result


def generator_census(model: torch.nn.Module, extractor: torch.nn.Module) -> dict:
    """Which digits each of a MAD-GAN's k generators draws: N_SAMPLES / k samples from each (noise
    seed 1), classed by lenet5.mnist, and I(generator; digit) in nats, the mutual information of a
    sample's generator and its digit. 0 when every generator draws the same mix of digits; log k
    when no two draw the same digit."""
    from zoo.metrics.classifier import mean_kl
    from zoo.metrics.coverage import coverage

    k = model.config.num_generators
    gen = torch.Generator().manual_seed(1)
    shares = []
    for i in range(k):
        with torch.no_grad():
            z = model.noise(N_SAMPLES // k, gen)
            census = coverage(extractor.embed(model.render(z, torch.full((len(z),), i))).probs)
        shares.append([census[f"share_{d}"] for d in range(10)])
    each = torch.tensor(shares, dtype=torch.float64)  # k x 10
    mi = mean_kl(each, each.mean(0))  # the mean over generators of KL(generator's digits || all digits)
    return {"generator_digit_mi": round(mi, 4), "generator_histograms": each.round(decimals=4).tolist()}


def new_run_dir(keep: Path | None, model: str) -> Path:
    """A run directory of its own under `keep` (else a temp dir): runs started in the same second differ by pid."""
    root = keep or Path(tempfile.mkdtemp(prefix="bench-gans-"))
    return root / f"{model}-{int(time.time())}-{os.getpid()}"


def row(label: str, result: dict) -> str:
    hist = " ".join(f"{100 * s:.0f}" for s in result["histogram"])
    budget = f"{result['cpu_seconds']:.0f}" if "cpu_seconds" in result else "-"
    epochs = ", ".join(f"{s:.0f}" for s in result.get("epoch_end_cpu_seconds", [])) or "-"
    line = (f"| {label} | {budget} | {epochs} | {result['fid']:.1f} | {result['digits_over_5pct']} | "
            f"{result['kl_uniform']:.3f} | {100 * result['confident']:.0f}% | {hist} |")
    if "generator_digit_mi" in result:  # below the table: one line per run
        each = "; ".join(" ".join(f"{100 * s:.0f}" for s in h) for h in result["generator_histograms"])
        line += f"\n  I(generator; digit) = {result['generator_digit_mi']:.3f} nats; per generator (%): {each}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["budget", "weights", "table", "speed", "ship"])
    parser.add_argument("--out", type=Path, help="where the packaged bundle goes (ship)")
    parser.add_argument("--tag", default="mnist", help="pretrained tag (ship)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps (speed)")
    parser.add_argument("names", nargs="+", help="models (budget) or tags / bundles / run directories (weights)")
    parser.add_argument("--cpu-seconds", type=float, default=600.0)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="extra `zoo train --set` (budget)")
    parser.add_argument("--label", help="row label (default: the model name and its --sets)")
    parser.add_argument("--keep", type=Path, help="keep the runs under this directory (budget)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/gans.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.mode == "ship":
        import yaml

        for name in args.names:
            print(yaml.safe_dump([ship(Path(name), args.out, args.tag)], sort_keys=False).rstrip())
        return
    if args.mode == "speed":
        for name in args.names:
            result = speed(name, args.sets, args.steps)
            print(f"{name} {' '.join(args.sets)}: {result}", flush=True)
            append_jsonl(args.json, {"run": " ".join([name, *args.sets]), "mode": "speed", **result})
        return
    print("| run | CPU s | CPU s at epoch ends | FID (LeNet, 10k) | digits > 5% | KL from uniform | confident | histogram 0-9 (%) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for name in args.names:
        if args.mode == "table":
            from zoo.engine.inference import load_trained

            model, _, epochs = name.partition(":")
            run = new_run_dir(args.keep, model)
            info = train_table(model, int(epochs) if epochs else None, args.cpu_seconds, args.sets, run)
            (run / "table.json").write_text(json.dumps(info))  # kept in case measuring fails
            label = args.label or " ".join([model, *args.sets])
            trained = {"budget": model_with(run, torch.load(run / "budget.pt")),
                       "recipe": load_trained(str(run / "recipe.safetensors")).model.eval()}
            for when, net in trained.items():
                result = {"cpu_seconds": info[when]["cpu_seconds"], "epoch_end_cpu_seconds": info["epoch_end_cpu_seconds"],
                          **measure(net)}
                print(row(f"{label}, {when} ({info[when]})", result), flush=True)
                append_jsonl(args.json, {"run": label, "mode": f"table-{when}", "at": info[when], "dir": str(run), **result})
            continue
        if args.mode == "budget":
            run = new_run_dir(args.keep, name)
            result = train_with_budget(name, args.cpu_seconds, args.sets, run)
            result.update(measure(model_from_checkpoint(run)))
            label = args.label or " ".join([name, *args.sets])
        else:
            from zoo.engine.inference import load_trained

            result = measure(load_trained(name).model)
            label = args.label or name
        print(row(label, result), flush=True)
        append_jsonl(args.json, {"run": label, "mode": args.mode, **result})


if __name__ == "__main__":
    main()
