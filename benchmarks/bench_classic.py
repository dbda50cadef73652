"""Classic CNNs against torchvision: train-step and inference images/s, measured in one run.

    python benchmarks/bench_classic.py                    # eager and channels_last
    python benchmarks/bench_classic.py --variants compile --sizes 32   # torch.compile rows
    python benchmarks/bench_classic.py --models vgg16 --sizes 32

Each zoo model is timed against the torchvision model of the same architecture, with the same
weights (the peer's state dict is loaded into the zoo model), batch, input and memory format; the two are timed alternately (ours, peer, ours, …) so
load from other processes hits both alike, and the best of the repeats is reported (the
least disturbed run, as `timeit` advises). With `--threads 1` the clock is this process's CPU
time, which other processes' load barely moves (wall-clock ratios swing ±20% on a busy
2-core machine); with more threads it is wall-clock time. The
ratio is zoo / torchvision images/s (> 1 is faster). torchvision's AlexNet cannot run at 32×32
(its 11×11/4 stem leaves no map for the last pool), so AlexNet's small size is 64×64.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchvision

import zoo

# zoo name, torchvision constructor, zoo overrides that make the same architecture at every size
PAIRS: dict[str, tuple[str, Callable[..., torch.nn.Module], dict]] = {
    "vgg16": ("vgg16", torchvision.models.vgg16, {"head_grid": 7}),  # torchvision pools to 7×7 at any size
    "alexnet_torchvision": ("alexnet", torchvision.models.alexnet, {"head_grid": 6, "stem_stride": 4}),
    "googlenet_torchvision": ("googlenet", lambda **kw: torchvision.models.googlenet(aux_logits=False, init_weights=False, **kw), {}),
}
SETTINGS = {32: 32, 224: 8}  # input side -> batch size
SMALL_SIDE = {"alexnet_torchvision": 64}


def build_pair(name: str, side: int, channels_last: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    _, factory, fixed = PAIRS[name]
    torch.manual_seed(0)
    ours = zoo.create_model(name, image_size=side, **fixed)
    theirs = factory()
    ours.load_state_dict(theirs.state_dict())  # same numbers in both (no init-dependent effects)
    if channels_last:
        ours, theirs = ours.to(memory_format=torch.channels_last), theirs.to(memory_format=torch.channels_last)
    return ours, theirs


def step_fn(model: torch.nn.Module, mode: str) -> Callable[[torch.Tensor, torch.Tensor], None]:
    if mode == "infer":
        model.eval()

        def infer(x: torch.Tensor, _y: torch.Tensor) -> None:
            with torch.inference_mode():
                model(x)
        return infer
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return train


CLOCK: Callable[[], float] = time.perf_counter


def images_per_second(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    start = CLOCK()
    fn(x, y)
    return x.shape[0] / (CLOCK() - start)


def measure(name: str, side: int, mode: str, variant: str, repeats: int) -> tuple[float, float]:
    channels_last = variant in ("channels_last", "compile+channels_last")
    ours, theirs = build_pair(name, side, channels_last)
    fns = [step_fn(ours, mode), step_fn(theirs, mode)]
    if variant.startswith("compile"):
        ours_c, theirs_c = torch.compile(ours), torch.compile(theirs)
        fns = [step_fn(ours_c, mode), step_fn(theirs_c, mode)]
    batch = SETTINGS[224 if side == 224 else 32]
    x = torch.randn(batch, 3, side, side)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,))
    for fn in fns:  # warm-up (and compilation)
        fn(x, y)
    rates: list[list[float]] = [[], []]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            rates[i].append(images_per_second(fn, x, y))
    return max(rates[0]), max(rates[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--modes", nargs="+", default=["infer", "train"], choices=["infer", "train"])
    parser.add_argument("--variants", nargs="+", default=["eager", "channels_last"],
                        choices=["eager", "channels_last", "compile", "compile+channels_last"],
                        help="compile = torch.compile with the default (inductor) backend; slow to compile.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 on a shared machine).")
    args = parser.parse_args()
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.get_num_threads() == 1:
        CLOCK = time.process_time
    variants = args.variants
    clock = "CPU time" if CLOCK is time.process_time else "wall-clock"
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads, {clock}")
    print("| model | input | batch | mode | variant | zoo img/s | torchvision img/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        for size in args.sizes:
            side = SMALL_SIDE.get(name, size) if size == 32 else size
            repeats = args.repeats if size == 32 else max(2, args.repeats // 2)
            for mode in args.modes:
                for variant in variants:
                    ours, theirs = measure(name, side, mode, variant, repeats)
                    print(f"| {name} | {side}×{side} | {SETTINGS[size]} | {mode} | {variant} | {ours:.1f} | "
                          f"{theirs:.1f} | {ours / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
