"""DCGAN epochs against the peer: PyTorch-GAN's `implementations/dcgan/dcgan.py`, in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_dcgan_peer.py --peer PATH/TO/PyTorch-GAN/implementations/dcgan/dcgan.py

The peer script is not part of the zoo (it is eriklindernoren/PyTorch-GAN's, MIT licence): get
the repository and point --peer at the file. It runs unmodified, with its defaults (batch 64,
32 px, Adam 2e-4), from a scratch copy of the repository layout whose `data/mnist/MNIST/raw`
links to the zoo's MNIST files, so torchvision finds MNIST in place and downloads nothing.

Both programs run on one thread (OMP_NUM_THREADS=1), one after the other, and are timed in CPU
seconds (user + system, /proc), which the neighbours on a shared machine do not inflate:

- peer: the CPU seconds between its batch --warmup and batch --batches (it prints a line per
  batch), per batch, times its batches per epoch (938 at batch 64). Start-up (imports, reading
  MNIST) is left out, which favours the peer.
- zoo: `zoo train dcgan --data mnist --epochs 1 --set train.batch_size=64 --set threads=1` to
  its end: the CPU seconds of the whole process, start-up and the epoch's evaluation (FID and
  coverage of 2,000 samples) included.

Prints both figures and the ratio; appends a JSON line to --json (default benchmarks/gans.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_gans import cpu_seconds, start_training, watch  # noqa: E402

BATCH_LINE = re.compile(r"\[Batch (\d+)/(\d+)\]")


def peer_layout(peer: Path, root: Path) -> Path:
    """root/implementations/dcgan/dcgan.py (a copy of the peer) and root/data/mnist/MNIST/raw (the zoo's MNIST)."""
    from zoo.data.fetch import fetch  # the function (once imported, the submodule shadows the lazy name)

    raw = root / "data" / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in fetch("mnist").iterdir():
        (raw / f.name).symlink_to(f)
    script = root / "implementations" / "dcgan" / "dcgan.py"
    script.parent.mkdir(parents=True)
    shutil.copyfile(peer, script)
    return script


def time_peer(peer: Path, warmup: int, batches: int) -> dict:
    """CPU seconds per peer batch between batch `warmup` and `batches`, and per epoch."""
    with tempfile.TemporaryDirectory(prefix="dcgan-peer-") as tmp:
        script = peer_layout(peer, Path(tmp))
        child = subprocess.Popen([sys.executable, script.name, "--n_epochs", "1"], cwd=script.parent,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
        marks: dict[int, float] = {}
        per_epoch = 0
        for line in child.stdout:
            m = BATCH_LINE.search(line)
            if not m:
                continue
            i, per_epoch = int(m.group(1)), int(m.group(2))
            if i in (warmup, batches):
                marks[i] = cpu_seconds(child.pid)
            if i >= batches:
                break
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate()
        if len(marks) < 2:
            raise SystemExit(f"the peer stopped before batch {batches}:\n{err[-2000:]}")
    per_batch = (marks[batches] - marks[warmup]) / (batches - warmup)
    return {"batches_per_epoch": per_epoch, "cpu_s_per_batch": round(per_batch, 4),
            "cpu_s_per_epoch": round(per_batch * per_epoch, 1), "timed_batches": batches - warmup}


def time_zoo(batch_size: int) -> dict:
    """CPU seconds of a whole one-epoch `zoo train dcgan` process."""
    with tempfile.TemporaryDirectory(prefix="dcgan-zoo-") as tmp:
        run = Path(tmp) / "run"
        child = start_training("dcgan", [f"train.batch_size={batch_size}"], run, epochs=1)
        used = 0.0
        for used in watch(child, run, []):
            pass
        _, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"zoo train dcgan failed:\n{err[-2000:]}")
    return {"batch_size": batch_size, "cpu_s_per_epoch": round(used, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, required=True, help="PyTorch-GAN's implementations/dcgan/dcgan.py")
    parser.add_argument("--warmup", type=int, default=20, help="peer batches before timing starts")
    parser.add_argument("--batches", type=int, default=320, help="peer batch at which timing ends")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/gans.jsonl"))
    args = parser.parse_args()
    if not args.peer.is_file():
        raise SystemExit(f"error: no peer script at {args.peer}")
    started = time.strftime("%Y-%m-%d %H:%M")
    peer = time_peer(args.peer, args.warmup, args.batches)
    print(f"peer dcgan.py: {peer}", flush=True)
    zoo = time_zoo(64)
    print(f"zoo dcgan: {zoo}", flush=True)
    ratio = round(peer["cpu_s_per_epoch"] / zoo["cpu_s_per_epoch"], 2)
    print(f"zoo epochs are {ratio}x faster (CPU s per 60,000-image epoch at batch 64, one thread)")
    with args.json.open("a") as f:
        f.write(json.dumps({"run": "dcgan vs PyTorch-GAN dcgan.py", "mode": "peer", "at": started,
                            "peer": peer, "zoo": zoo, "ratio": ratio}) + "\n")


if __name__ == "__main__":
    main()
