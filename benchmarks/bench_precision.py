"""Train-step time of a model's own task at each train.precision, on one CPU thread (or a GPU with --device cuda).

    python benchmarks/bench_precision.py lenet5 dcgan --steps 30
    python benchmarks/bench_precision.py vgg11 --precisions fp32 bf16 --device cuda

Each model is built as `zoo train MODEL --data mnist` builds it (its recipe: batch size, optimizer, input size), its
task steps real MNIST batches through the engine's Stepper under each precision in turn (the same weights and
batches for every precision), and the median seconds per step of `--steps` steps after `--warmup` is reported:
CPU seconds of this process on one thread (which neighbours on a shared machine barely move), wall-clock seconds
with the device synchronised on a GPU. The ratio is fp32's median over each precision's (> 1: faster than fp32).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch


def step_times(name: str, precisions: list[str], steps: int, warmup: int, device: torch.device) -> dict[str, float]:
    from zoo.api import build, resolve
    from zoo.engine import distributed
    from zoo.engine.config import compose
    from zoo.engine.precision import Precision
    from zoo.engine.trainer import Stepper, build_optimizer
    from zoo.tasks import task_class

    spec, _ = resolve(name)
    config = compose(name, {"data": {"name": "mnist", "val_size": 0}})
    torch.manual_seed(0)
    model = build(spec, config.model.config).to(device)
    task = task_class(spec.entry.task)(model, config, device)
    size = config.train.batch_size
    data = task.load_split("train", size * (warmup + steps))
    batches = [{k: v[i * size:(i + 1) * size] for k, v in data.items()} for i in range(warmup + steps)]
    start_state = copy.deepcopy(model.state_dict())
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    medians = {}
    for precision in precisions:
        model.load_state_dict(start_state)
        modules = task.modules()
        for m in modules.values():
            m.train()
        mode = Precision(precision, device)
        optimizers = {n: build_optimizer(config.train, m, n) for n, m in modules.items()}
        stepper = Stepper(optimizers, modules, config.train.grad_clip, distributed.Dist(), mode, mode.scalers(list(modules)))
        torch.manual_seed(1)
        times = []
        for i, batch in enumerate(batches):
            stepper.at_step = i + 1
            start = clock()
            with mode.step():
                task.train_step(batch, modules, stepper)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(clock() - start)
        if stepper.first_non_finite() is not None:
            raise SystemExit(f"{name} at {precision}: the loss went non-finite")
        medians[precision] = statistics.median(times)
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "fp16"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} thread(s); median of {args.steps} steps "
          f"after {args.warmup}")
    print("| model | batch | " + " | ".join(f"{p} s/step" for p in args.precisions) + " | "
          + " | ".join(f"fp32/{p}" for p in args.precisions if p != "fp32") + " |")
    print("|---|---:|" + "---:|" * (2 * len(args.precisions) - 1))
    for name in args.models:
        from zoo.engine.config import compose

        medians = step_times(name, args.precisions, args.steps, args.warmup, device)
        batch = compose(name, {"data": {"name": "mnist"}}).train.batch_size
        ratios = {p: medians["fp32"] / medians[p] for p in args.precisions if p != "fp32"} if "fp32" in medians else {}
        print(f"| {name} | {batch} | " + " | ".join(f"{medians[p]:.4f}" for p in args.precisions) + " | "
              + " | ".join(f"{r:.2f}" for r in ratios.values()) + " |", flush=True)
        print(json.dumps({"model": name, "batch": batch, "device": args.device, "threads": args.threads,
                          "median_seconds_per_step": medians, "fp32_over": ratios}))


if __name__ == "__main__":
    main()
