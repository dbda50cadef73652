"""What a run shows while it trains: a rich progress bar, or one line per epoch with --quiet."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def fmt(record: dict[str, Any]) -> str:
    skip = {"kind", "time", "step", "epoch"}
    parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k not in skip]
    return f"epoch {record.get('epoch', 0) + 1} step {record.get('step', 0)}: " + ", ".join(parts)


class Display:
    """Progress of one run (only rank 0 shows anything)."""

    def __init__(self, quiet: bool, enabled: bool = True) -> None:
        self.console = Console(stderr=True, soft_wrap=True)
        self.quiet = quiet or not enabled
        self.enabled = enabled
        self.bar: Progress | None = None
        self.task_id: Any = None

    def say(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, markup=False, highlight=False)

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if self.quiet:
            return
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]} acc {task.fields[acc]} {task.fields[rate]} img/s"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=self.console, transient=False)
        self.task_id = self.bar.add_task("train", total=total, completed=done, epoch=f"{epoch + 1}/{epochs}",
                                         loss="-", acc="-", rate="-")
        self.bar.start()

    def update(self, done: int, metrics: dict[str, Any], rate: float) -> None:
        """Floats, or the step's metric tensors: those are read off the device only when a bar shows them."""
        if self.bar is None:
            return
        loss, acc = metrics.get("loss"), metrics.get("accuracy")
        self.bar.update(self.task_id, completed=done, loss="-" if loss is None else f"{float(loss):.4f}",
                        acc="-" if acc is None else f"{float(acc):.2%}", rate=f"{rate:,.0f}")

    def end_epoch(self, record: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        self.say(fmt(record))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
