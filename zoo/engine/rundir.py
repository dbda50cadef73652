"""The run directory: what a run writes, and where.

    runs/<model>-<YYYYmmdd-HHMMSS>/
        config.yaml            the validated run config (model, data, train)
        metrics.jsonl          one JSON record per line: {"kind": "step"|"epoch"|"eval"|"end", ...}
        checkpoint.safetensors the last resumable checkpoint (zoo.engine.checkpoint)
        last.safetensors       model weights after the last completed epoch
        best.safetensors       model weights at the best evaluation so far
        curves.png             loss and metric curves
        bundle/                the final weights bundle (zoo.weights.save_pretrained)
        .lock                  held by the process writing the run (`RunLock`)

A new run directory appears whole (`RunDir.create`): config.yaml and the held lock are made in
a hidden temporary directory beside it, which is then renamed into place. Every later file is
written to a temporary name and renamed too, so a kill at any moment leaves no directory, or a
run that `--resume` continues (from its last checkpoint, or from the start when it had none).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.safetensors"
LAST = "last.safetensors"
BEST = "best.safetensors"
CURVES = "curves.png"
BUNDLE = "bundle"
LOCK = ".lock"
LOCK_ENV = "ZOO_RUN_LOCK_HELD"  # set by a launcher that holds the lock for its worker processes


class RunDirError(ZooError):
    """A directory that is not a run, or cannot be used for this one."""


def is_scratch(name: str) -> bool:
    """What a directory may hold without being a run: the lock, and the temp files of a write a kill cut short."""
    return name == LOCK or (name.startswith(".") and ".tmp-" in name)


def default_run_dir(model: str, root: Path = Path("runs")) -> Path:
    """`runs/<model>-<local time>`; a suffix keeps two runs started in one second apart."""
    base = root / f"{model.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunLock:
    """An exclusive lock on a run directory while one process writes it.

    The lock is an `fcntl.flock` on `.lock`, which the kernel drops when its holder dies in any
    way (SIGKILL, a crash, power loss), so a lock is never stale by construction: a killed run's
    `.lock` file is simply taken over and `--resume` keeps working. The file records who holds
    it (pid, host, command, start time) so that a refused second writer can say who to wait for.
    On systems without `fcntl` (Windows) runs are not locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path / LOCK
        self._fd: int | None = None
        self._made_dir = self._made_file = False
        self.took_over: dict[str, Any] | None = None  # what a dead holder had written, when we took its lock over

    def acquire(self, command: str) -> RunLock:
        try:
            import fcntl
        except ImportError:
            return self
        self._made_dir = not self.path.parent.exists()
        self._made_file = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read(fd)
            os.close(fd)
            raise RunDirError(f"{self.path.parent} is being written by {describe_holder(holder)}; "
                              "wait for it to finish or stop it, then --resume") from None
        previous = self._read(fd)
        if previous.get("pid") not in (None, os.getpid()):
            self.took_over = previous
        record = {"pid": os.getpid(), "host": os.uname().nodename, "command": command,
                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    @staticmethod
    def _read(fd: int) -> dict[str, Any]:
        try:
            doc = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # a clean exit leaves no holder behind; a killed one leaves its record
        if self._made_file and not (self.path.parent / CONFIG).exists():
            # Nothing became a run here (a refused resume, data that failed to load): leave no trace.
            self.path.unlink(missing_ok=True)
            if self._made_dir and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _sweep_abandoned(parent: Path, name: str) -> None:
    """Remove the temporary directories of `create`s of `name` whose process is gone (killed before the rename)."""
    for tmp in parent.glob(f".{glob.escape(name)}.tmp-*"):
        pid = tmp.name.rpartition("-")[2]
        if tmp.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but is someone else's
        return True
    return True


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "another process"
    where = f" on {holder['host']}" if holder.get("host") and holder["host"] != os.uname().nodename else ""
    what = f" ({holder['command']}, since {holder.get('since', '?')})" if holder.get("command") else ""
    return f"process {holder['pid']}{where}{what}"


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def is_run(self) -> bool:
        return (self.path / CONFIG).is_file()

    def has_files(self) -> bool:
        """Whether the directory holds anything but scratch (a lock, a killed write's temp file)."""
        return self.path.is_dir() and any(not is_scratch(p.name) for p in self.path.iterdir())

    def create(self, config_text: str, command: str) -> RunLock:
        """Make the directory in one step, holding its lock: config.yaml and `.lock` (locked) are written into
        a hidden temporary directory beside it, which is then renamed into place. The flock lives on the open
        file, so the rename keeps it held."""
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        _sweep_abandoned(parent, self.path.name)
        tmp = parent / f".{self.path.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        lock = RunLock(tmp).acquire(command)
        try:
            (tmp / CONFIG).write_text(config_text)
            os.rename(tmp, self.path)  # fails if another process made the directory meanwhile (it is not empty)
        except OSError as err:
            lock.release()
            shutil.rmtree(tmp, ignore_errors=True)
            if self.path.exists():
                raise RunDirError(f"{self.path} appeared while this run was starting; use another --out") from None
            raise RunDirError(f"cannot create the run directory {self.path}: {err.strerror or err}") from None
        lock.path = self.path / LOCK
        return lock

    def write_text(self, name: str, text: str) -> None:
        """Atomically: a temp file in the same directory, then rename."""
        target = self.path / name
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)

    def read_config_doc(self) -> dict[str, Any]:
        from zoo.config import load_config_file

        if not self.is_run():
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        return load_config_file(self.path / CONFIG)

    def records(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                break  # a line cut short by a kill; everything after it is unreliable
        return out

    def rewind_metrics(self, step: int, epochs_done: int) -> None:
        """Drop records written after the checkpoint being resumed (they will be written again)."""
        kept = [r for r in self.records()
                if (r["kind"] == "step" and r["step"] <= step) or (r["kind"] in ("epoch", "eval") and r["epoch"] < epochs_done)]
        self.write_text(METRICS, "".join(json.dumps(r) + "\n" for r in kept))


class MetricsLog:
    """Appends JSON records to metrics.jsonl, flushed per record (a kill loses at most the last line)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", buffering=1)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")

    def close(self) -> None:
        self._file.close()


def plot_curves(run: RunDir) -> Path | None:
    """curves.png: training loss per logged step, and every epoch's evaluation metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = run.records()
    steps = [r for r in records if r["kind"] == "step"]
    evals = [r for r in records if r["kind"] == "eval"]
    if not steps and not evals:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if steps:
        left.plot([r["step"] for r in steps], [r["loss"] for r in steps], label="train loss (step)")
    for key in sorted({k for r in evals for k in r if k.startswith("eval_")}):
        axis = left if "loss" in key else right
        split = evals[-1].get("split", "eval")
        axis.plot([r["step"] for r in evals], [r[key] for r in evals], marker="o", label=f"{split} {key.removeprefix('eval_')}")
    epochs = [r for r in records if r["kind"] == "epoch"]
    for key in sorted({k for r in epochs for k in r if k.startswith("train_") and k != "train_loss"}):
        right.plot([r["step"] for r in epochs], [r[key] for r in epochs], marker=".", linestyle="--", label=key.replace("_", " "))
    left.set_xlabel("step")
    left.set_title("loss")
    right.set_xlabel("step")
    right.set_title("metrics")
    for axis in (left, right):
        if axis.lines:
            axis.legend()
        axis.grid(alpha=0.3)
    fig.tight_layout()
    target = run / CURVES
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, target)
    return target
