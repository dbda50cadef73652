"""An image folder read by the streaming path against the in-memory path: peak memory, images/s, time to first step.

    python benchmarks/bench_streaming.py --folder DIR [--images 50000] [--size 64] [--workers 0 1 2]

Makes (once) DIR, an ImageFolder tree of `--images` JPEGs at `--size` px in 10 classes (train/)
and 1,000 more (test/): seeded smooth colour fields with noise, so they compress and decode as
photographs do rather than as pure noise. Then trains `lenet5` at the folder's size
(model.image_size and data.image_size = --size, so both paths decode the same pixels) for one
epoch, one torch thread, once per case: `data.stream=false` (decoded into memory up front), and
`data.stream=true` with each `--workers` count. Every case is its own `zoo train` process.

Per case: time to the first step (process start to the first step record in metrics.jsonl:
imports, listing, decoding or starting workers, statistics, the first step); training images/s
(the median of the step records' rate, the first one left out); peak memory of the process and
its DataLoader workers, as the largest sum of their proportional set sizes (Pss, which counts a
page shared by n processes 1/n in each: forked workers share the parent's pages); and the
epoch's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CLASSES = 10


def make_folder(root: Path, images: int, size: int, test: int = 1000) -> None:
    import numpy as np
    from PIL import Image

    if (root / "done").is_file():
        return
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for split, n in (("train", images), ("test", test)):
        for i in range(n):
            label = i % CLASSES
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            hue = np.array([np.cos(label), np.sin(label), np.cos(2 * label)]) * 80 + 128
            field = hue[None, None, :] * (0.6 + 0.4 * (np.sin(6 * xx * rng.uniform(0.5, 2))[..., None]
                                                      * np.cos(6 * yy * rng.uniform(0.5, 2))[..., None]))
            pixels = np.clip(field + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(folder / f"{i:06d}.jpg", quality=90)
    (root / "done").write_text("ok")


def tree_pss(pid: int) -> int:
    """Pss (bytes) of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_case(folder: Path, out: Path, size: int, stream: bool, workers: int | None) -> dict:
    args = [sys.executable, "-m", "zoo", "train", "lenet5", "--data", str(folder), "--out", str(out), "--epochs", "1",
            "--quiet", "--set", "threads=1", "--set", "log_every=10", "--set", f"model.image_size={size}",
            "--set", f"data.image_size={size}", "--set", "data.val_size=0", "--set", f"data.stream={str(stream).lower()}"]
    if workers is not None:
        args += ["--set", f"data.workers={workers}"]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, first = [0], [None]
    metrics = out / "metrics.jsonl"

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss(proc.pid))
            if first[0] is None and metrics.is_file() and '"kind": "step"' in metrics.read_text():
                first[0] = time.perf_counter() - start
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"case failed: {err.strip().splitlines()[-1]}")
    steps = [json.loads(line) for line in metrics.read_text().splitlines() if '"kind": "step"' in line]
    return {"stream": stream, "workers": workers, "first_step_s": round(first[0], 2), "wall_s": round(wall, 1),
            "images_per_s": round(statistics.median(s["images_per_s"] for s in steps[1:]), 1),
            "peak_pss_mib": round(peak[0] / 2**20), "steps": steps[-1]["step"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, default=Path("runs-bench-streaming"))
    args = parser.parse_args()
    t = time.perf_counter()
    make_folder(args.folder, args.images, args.size)
    print(f"folder ready in {time.perf_counter() - t:.0f} s: {args.folder}", flush=True)
    cases = [(False, None), *((True, w) for w in args.workers)]
    for stream, workers in cases:
        name = f"stream-w{workers}" if stream else "memory"
        result = run_case(args.folder, args.runs / f"{name}-{time.strftime('%H%M%S')}", args.size, stream, workers)
        print(json.dumps({"case": name, **result}), flush=True)


if __name__ == "__main__":
    main()
