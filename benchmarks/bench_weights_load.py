"""Loading weights: the zoo's safetensors reader against torch.load, for the same vgg16 state dict.

    python benchmarks/bench_weights_load.py [--runs 7]

The state dict is torchvision's vgg16() (138M parameters, 553 MB of float32), written once as
safetensors by the zoo and once by torch.save. One measurement = read the file and
`load_state_dict` into a vgg16, so every byte reaches the model's parameters: returning a
dict alone is not comparable, because safetensors and torch.load(mmap=True) hand back views
of a memory map that are read only when touched. The file is in the page cache (warm: the OS
cache cannot be dropped without disturbing the machine); contenders are interleaved so that
load on the shared machine hits them alike.

  zoo safetensors  zoo.weights.safefile.load_tensors: header checked field by field, then
                   safetensors' memory-mapped tensors (no copy until load_state_dict)
  torch.load       torch.load(weights_only=True), the peer: unpickles into fresh memory
  torch.load mmap  torch.load(weights_only=True, mmap=True), for reference

Goal: zoo ≥ 1.0× torch.load. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision

from zoo.weights.safefile import load_tensors, save_tensors


def contenders(st: Path, pt: Path) -> dict:
    return {
        "zoo safetensors": lambda: load_tensors(st)[1],
        "torch.load": lambda: torch.load(pt, weights_only=True),
        "torch.load mmap": lambda: torch.load(pt, weights_only=True, mmap=True),
    }


def timed(fn, model: torch.nn.Module) -> float:
    start = time.perf_counter()
    model.load_state_dict(fn())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)  # loading is I/O and memcpy; one thread keeps the comparison fair
    model = torchvision.models.vgg16()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        st, pt = Path(tmp) / "vgg16.safetensors", Path(tmp) / "vgg16.pt"
        save_tensors(state, st, {"format": "pt"})
        torch.save(state, pt)
        del state
        mb = st.stat().st_size / 1e6
        print(f"vgg16 state dict: {mb:.0f} MB (safetensors), {pt.stat().st_size / 1e6:.0f} MB (torch.save)")
        fns = contenders(st, pt)
        for fn in fns.values():  # warm the page cache and the code paths
            timed(fn, model)
        results = {name: [] for name in fns}
        for _ in range(args.runs):  # interleaved, one run each per round
            for name, fn in fns.items():
                results[name].append(timed(fn, model))
    peer = statistics.median(results["torch.load"])
    print(f"\nread + load_state_dict into vgg16, median of {args.runs} (warm page cache)\n")
    print("| contender | median s | GB/s | vs torch.load |")
    print("| --- | --- | --- | --- |")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"| {name} | {med:.3f} | {mb / 1e3 / med:.2f} | {peer / med:.2f}x |")


if __name__ == "__main__":
    main()
