"""CycleGAN one epoch beside PyTorch-GAN's cyclegan.py on the same mnist-m pairs (BENCHMARKS.md, issue 23).

What the table in BENCHMARKS.md ran, as one script. The peer is a scratch clone of
eriklindernoren/PyTorch-GAN (`--peer DIR`, its repository root; never copied into this project).
The first `--n` train pairs of mnist-m (and `--n-test` test pairs for the peer's sampler) are
written as PNG files in the peer's `data/<name>/{train,test}/{A,B}` layout; then, each on one
thread, the peer's `implementations/cyclegan/cyclegan.py` for one epoch (batch 16, 32 px, 3
residual blocks) and `zoo train cyclegan` for one epoch on the same pairs, at the recipe's widths
and at the peer's (`model.width=4`). Prints CPU (user) and wall seconds of each command.

    python benchmarks/bench_translation_peer.py --peer /tmp/peer/pg --out /tmp/bench-translation
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def write_pairs(root: Path, n: int, n_test: int) -> None:
    from torchvision.utils import save_image

    from zoo.data import load_dataset

    for split, count in (("train", n), ("test", n_test)):
        ds = load_dataset("mnist-m", split, val_size=0)
        for domain, images in (("A", ds.sources), ("B", ds.images)):
            folder = root / split / domain
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                save_image(images[i].float() / 255, folder / f"{i:05d}.png")


def timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """(CPU user seconds, wall seconds) of one command run to completion, its output in `log`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    start = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, required=True, help="PyTorch-GAN clone (repository root)")
    parser.add_argument("--out", type=Path, required=True, help="folder for logs and zoo runs")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=100)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_pairs(args.peer / "data" / "mnistm", args.n, args.n_test)
    peer = [sys.executable, "cyclegan.py", "--dataset_name", "mnistm", "--n_epochs", "1", "--decay_epoch", "0",
            "--batch_size", "16", "--img_height", "32", "--img_width", "32", "--n_residual_blocks", "3",
            "--n_cpu", "0", "--sample_interval", "1000"]
    zoo = [sys.executable, "-m", "zoo", "train", "cyclegan", "--epochs", "1", "--set", "threads=1",
           "--set", f"train.max_train_examples={args.n}", "--set", f"train.max_eval_examples={args.n_test}",
           "--set", f"data.val_size={args.n_test}", "--set", "model.blocks=3"]
    rows = {"peer cyclegan.py": timed(peer, args.peer / "implementations" / "cyclegan", args.out / "peer.log")}
    for label, extra in (("zoo, recipe widths", []), ("zoo, the peer's widths", ["--set", "model.width=4"])):
        run = args.out / label.replace(" ", "_").replace(",", "").replace("'", "")
        rows[label] = timed([*zoo, *extra, "--out", str(run)], Path.cwd(), args.out / f"{run.name}.log")
    peer_cpu = rows["peer cyclegan.py"][0]
    for label, (cpu, wall) in rows.items():
        print(f"{label}: CPU {cpu:.1f} s, wall {wall:.1f} s, peer/this CPU {peer_cpu / cpu:.2f}")


if __name__ == "__main__":
    main()
