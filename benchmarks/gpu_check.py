"""The GPU check of issue 22, stage by stage; `benchmarks/gpu_check.sh` prepares the machine and runs it.

    python benchmarks/gpu_check.py --out DIR            # on a GPU machine, about 6 minutes
    python benchmarks/gpu_check.py --out DIR --dry-run  # every stage on the CPU at tiny size

Stages (`--stages` picks some), each printing its figures and appending one JSON line to DIR/gpu_check.jsonl:

  env        the device (the GPU's name and memory), torch, CUDA
  tests      the device-sensitive tests with the GPU visible (train.device=auto picks it): host syncs (CUDA's sync
             debug mode), bf16/fp16 runs, export traced on the GPU, divergence
  lenet5     `zoo train lenet5 --data mnist` (its recipe): time from start to 99% test accuracy and the final
             accuracy, beside benchmarks/plain_lenet_loop.py with its data and model on the same device
  dcgan      `zoo train dcgan --data mnist`, one epoch: seconds of training per epoch and lenet5.mnist's census of
             the weights (FID, confident share, digit histogram), beside PyTorch-GAN's dcgan.py, unmodified, for
             one epoch on the same device (from a scratch copy; --peer)
  steps      train-step images/s of vgg16, alexnet and googlenet at 224 px, batch 128, against torchvision's
             definitions (and timm's vgg16), same weights, at fp32, tf32 and bf16 + channels_last
  inference  `zoo eval dcgan.mnist --n 10000` and `zoo sample vae.mnist`, timed

Times on a GPU are wall-clock with the device synchronised; on the CPU (--dry-run) they mean nothing but that the
stage ran. MNIST must be in $ZOO_HOME/data (gpu_check.sh unpacks the carried copy there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STAGES = ("env", "tests", "lenet5", "dcgan", "steps", "inference")
TARGET = 0.99
PEER_BATCH = re.compile(r"\[Batch (\d+)/(\d+)\]")


class Check:
    """Where results go, and what size the stages run at."""

    def __init__(self, out: Path, dry: bool, device: str) -> None:
        self.out, self.dry, self.device = out, dry, device
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = out / "gpu_check.jsonl"

    def record(self, stage: str, result: dict) -> None:
        line = {"stage": stage, "device": self.device, "dry_run": self.dry, "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                **result}
        with self.results.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"[{stage}] {json.dumps(result)}", flush=True)

    def zoo(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`zoo ARGS` as a child process (its own imports and start-up included in what it costs)."""
        r = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise SystemExit(f"zoo {' '.join(args)} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
        return r


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------------- stages

def stage_env(check: Check) -> None:
    import torch

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    if check.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count)
    check.record("env", info)


def stage_tests(check: Check) -> None:
    """The device-sensitive tests. Those that train gan_cls need its sentence encoder's weights (not carried)."""
    gpu = ["tests/test_host_syncs.py", "tests/test_export.py", "tests/test_precision.py", "-k",
           "gpu or nan_mid or device_asked or learns or (between_log_points and bf16 and not text)"]
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = {}
    if check.dry:  # the GPU selection is collected (so it is known to select), a small part of it run on the CPU
        listed = subprocess.run([*pytest, "--collect-only", *gpu], cwd=ROOT, capture_output=True, text=True, timeout=300)
        result["gpu_selection"] = listed.stdout.count("::")
        gpu = ["tests/test_host_syncs.py", "-k", "nan_mid or (between_log_points and classification and bf16)"]
    start = time.time()
    r = subprocess.run([*pytest, *gpu], cwd=ROOT, capture_output=True, text=True, timeout=420)
    tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    (check.out / "tests.log").write_text(r.stdout + r.stderr)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", tail)}
    check.record("tests", {"exit": r.returncode, "summary": tail, **counts, **result,
                           "seconds": round(time.time() - start, 1)})


def stage_lenet5(check: Check) -> None:
    size = ["--epochs", "1", "--set", "max_train_examples=2048", "--set", "max_eval_examples=500"] if check.dry else []
    with tempfile.TemporaryDirectory(prefix="gpu-check-lenet5-") as tmp:
        out = Path(tmp) / "run"
        start = time.time()
        check.zoo("train", "lenet5", "--data", "mnist", "--seed", "0", "--out", str(out), "--quiet",
                  "--set", "data.val_size=0", "--set", f"device={check.device}", *size)
        total = time.time() - start
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    hit = next((r for r in epochs if r["eval_accuracy"] >= TARGET), None)
    zoo = {"time_to_99": round(hit["time"] - start, 2) if hit else None, "epoch_to_99": hit["epoch"] + 1 if hit else None,
           "final_accuracy": records[-1]["eval_accuracy"], "total_seconds": round(total, 1),
           "accuracies": [round(r["eval_accuracy"], 4) for r in epochs]}
    peer_args = ["--epochs", "1", "--limit", "2048"] if check.dry else ["--epochs", "15", "--stop-at", str(TARGET)]
    start = time.time()
    r = subprocess.run([sys.executable, str(HERE / "plain_lenet_loop.py"), "--seed", "0", "--device", check.device,
                        *peer_args], capture_output=True, text=True, check=True, timeout=600)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    peer_hit = next((x for x in lines if x["test_accuracy"] >= TARGET), None)
    peer = {"time_to_99": round(peer_hit["time"] - start, 2) if peer_hit else None,
            "epoch_to_99": peer_hit["epoch"] if peer_hit else None, "final_accuracy": lines[-1]["test_accuracy"],
            "seconds_per_epoch": statistics.median(x["epoch_seconds"] for x in lines)}
    ratio = round(peer["time_to_99"] / zoo["time_to_99"], 2) if zoo["time_to_99"] and peer["time_to_99"] else None
    check.record("lenet5", {"zoo": zoo, "plain_loop": peer, "speedup_to_99": ratio})


def training_seconds_per_epoch(records: list[dict]) -> float:
    """An epoch's training time from its step records (the last step of an epoch is always logged): the
    seconds per step between the first and last logged steps, times the steps per epoch. Start-up and the
    epoch's evaluation are left out."""
    steps = [r for r in records if r["kind"] == "step" and r["epoch"] == 0]
    first, last = steps[0], steps[-1]
    return (last["time"] - first["time"]) / (last["step"] - first["step"]) * last["step"]


def stage_dcgan(check: Check, peer: Path | None) -> None:
    sys.path.insert(0, str(HERE))
    import bench_gans
    from zoo.engine.inference import load_trained

    size = ["--set", "max_train_examples=640", "--set", "max_eval_examples=200", "--set", "log_every=2"] if check.dry \
        else ["--set", "log_every=50"]
    with tempfile.TemporaryDirectory(prefix="gpu-check-dcgan-") as tmp:
        out = Path(tmp) / "run"
        start = time.time()
        check.zoo("train", "dcgan", "--data", "mnist", "--epochs", "1", "--seed", "0", "--out", str(out), "--quiet",
                  "--set", "data.val_size=0", "--set", f"device={check.device}", *size)
        total = time.time() - start
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        if check.dry:
            bench_gans.N_SAMPLES = 1000
        census = bench_gans.measure(load_trained(str(out / "bundle"), device=check.device).model.eval())
    zoo = {"train_seconds_per_epoch": round(training_seconds_per_epoch(records), 2), "total_seconds": round(total, 1),
           "steps": records[-1]["step"], "census": census}
    result = {"zoo": zoo}
    if peer is None:
        result["peer"] = "not run: no --peer (PyTorch-GAN's implementations/dcgan/dcgan.py)"
    else:
        result["peer"] = time_peer(peer, check)
        result["speedup"] = round(result["peer"]["seconds_per_epoch"] / zoo["train_seconds_per_epoch"], 2)
    check.record("dcgan", result)


def time_peer(peer: Path, check: Check) -> dict:
    """PyTorch-GAN's dcgan.py, unmodified, one epoch (in a dry run: its first 30 batches), on MNIST linked from the
    zoo's cache; wall seconds per batch from batch 20 on, times its batches per epoch."""
    sys.path.insert(0, str(HERE))
    from bench_dcgan_peer import peer_layout

    warmup = 20
    with tempfile.TemporaryDirectory(prefix="gpu-check-peer-") as tmp:
        script = peer_layout(peer, Path(tmp))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0" if check.device.startswith("cuda") else ""}
        child = subprocess.Popen([sys.executable, script.name, "--n_epochs", "1"], cwd=script.parent, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marks: dict[int, float] = {}
        per_epoch = last = 0
        for line in child.stdout:
            m = PEER_BATCH.search(line)
            if not m:
                continue
            last, per_epoch = int(m.group(1)), int(m.group(2))
            if last == warmup:
                marks["start"] = time.time()
            if check.dry and last >= warmup + 10:
                break
        marks["end"] = time.time()
        if check.dry:
            child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=600)
        if "start" not in marks:
            raise SystemExit(f"the peer stopped before batch {warmup}:\n{err[-2000:]}")
    per_batch = (marks["end"] - marks["start"]) / (last - warmup)
    return {"batches_per_epoch": per_epoch, "timed_batches": last - warmup, "seconds_per_batch": round(per_batch, 5),
            "seconds_per_epoch": round(per_batch * per_epoch, 2)}


def stage_steps(check: Check) -> None:
    """Train steps of the zoo's classic CNNs (through the zoo's Stepper and Precision, as `zoo train` steps them)
    against torchvision's (and timm's vgg16) in a plain loop at the same precision, alternately, same weights."""
    import torch

    sys.path.insert(0, str(HERE))
    from bench_classic import build_pair

    side, batch, steps, warmup, rounds = (32, 2, 1, 1, 1) if check.dry else (224, 128, 10, 3, 3)
    rows = []
    for name in ("vgg16", "alexnet_torchvision", "googlenet_torchvision"):
        size = max(side, 64) if name == "alexnet_torchvision" else side
        for precision in ("fp32", "tf32", "bf16"):
            channels_last = precision == "bf16"
            ours, theirs = build_pair(name, size, channels_last)
            peers = {"torchvision": theirs}
            if name == "vgg16":
                import timm

                peers["timm"] = timm.create_model("vgg16", num_classes=1000)
                if channels_last:
                    peers["timm"] = peers["timm"].to(memory_format=torch.channels_last)
            rates = measure_steps({"zoo": ours, **peers}, precision, channels_last, batch, size, steps, warmup,
                                  rounds, check.device)
            row = {"model": name, "precision": precision + ("+channels_last" if channels_last else ""), "side": size,
                   "batch": batch, **{f"{k}_images_per_s": round(v, 1) for k, v in rates.items()},
                   **{f"ratio_vs_{k}": round(rates["zoo"] / v, 3) for k, v in rates.items() if k != "zoo"}}
            rows.append(row)
            print(f"  {row}", flush=True)
            del ours, theirs, peers
            if check.device.startswith("cuda"):
                torch.cuda.empty_cache()
    fp32 = {r["model"]: r["zoo_images_per_s"] for r in rows if r["precision"] == "fp32"}
    bf16 = {r["model"]: round(r["zoo_images_per_s"] / fp32[r["model"]], 2) for r in rows if r["precision"].startswith("bf16")}
    check.record("steps", {"rows": rows, "zoo_bf16_channels_last_over_fp32": bf16})


def measure_steps(models: dict, precision: str, channels_last: bool, batch: int, side: int, steps: int, warmup: int,
                  rounds: int, device: str) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from zoo.engine.distributed import Dist
    from zoo.engine.precision import Precision, tf32
    from zoo.engine.trainer import Stepper

    dev = torch.device(device)
    mode = Precision(precision, dev)
    x = torch.randn(batch, 3, side, side, device=dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=dev)
    step_of = {}
    for label, model in models.items():
        model.to(dev).train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        if label == "zoo":
            stepper = Stepper({"model": opt}, {"model": model}, None, Dist(), mode, mode.scalers(["model"]))

            def step(model=model, stepper=stepper) -> None:
                with mode.step():
                    loss = F.cross_entropy(model(x), y)
                stepper.step(loss)
        else:
            def step(model=model, opt=opt) -> None:  # what one writes by hand
                with tf32(dev, precision == "tf32"), torch.autocast(dev.type, dtype=torch.bfloat16,
                                                                    enabled=precision == "bf16"):
                    loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        step_of[label] = step
    for step in step_of.values():
        for _ in range(warmup):
            step()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in step_of}
    for _ in range(rounds):  # the models in turn, so that clock changes hit every one alike; the median round
        for label, step in step_of.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            times[label].append(time.perf_counter() - start)
    return {k: batch * steps / statistics.median(v) for k, v in times.items()}


def stage_inference(check: Check) -> None:
    n = "500" if check.dry else "10000"
    start = time.time()
    r = check.zoo("eval", "dcgan.mnist", "--n", n, "--device", check.device, "--json",
                  "--metrics", "fid,is,kid,precision,recall")
    evaluated = time.time() - start
    start = time.time()
    check.zoo("sample", "vae.mnist", "--n", "64", "--device", check.device, "--out", str(check.out / "vae_samples.png"))
    sampled = time.time() - start
    scores = json.loads(r.stdout)
    check.record("inference", {"eval_dcgan_mnist": {"n": int(n), "seconds": round(evaluated, 1), "scores": scores},
                               "sample_vae_mnist": {"n": 64, "seconds": round(sampled, 1)}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory for gpu_check.jsonl, the test log and pictures")
    ap.add_argument("--dry-run", action="store_true", help="every stage on the CPU at tiny size")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--peer", type=Path, help="PyTorch-GAN's implementations/dcgan/dcgan.py (a scratch copy)")
    args = ap.parse_args()
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU here; use --dry-run to run the stages on the CPU")
    check = Check(args.out, args.dry_run, "cpu" if args.dry_run else "cuda")
    started = time.time()
    for stage in args.stages:
        began = time.time()
        run = {"env": stage_env, "tests": stage_tests, "lenet5": stage_lenet5, "dcgan": lambda c: stage_dcgan(c, args.peer),
               "steps": stage_steps, "inference": stage_inference}[stage]
        run(check)
        print(f"[{stage}] done in {time.time() - began:.0f} s", flush=True)
    print(f"gpu check: {len(args.stages)} stages in {time.time() - started:.0f} s; results in {check.results}")


if __name__ == "__main__":
    main()
