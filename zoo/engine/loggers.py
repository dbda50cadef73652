"""Where a run's metrics go besides metrics.jsonl: `train.loggers: [jsonl, tensorboard, mlflow, wandb, csv]`.

Every record the trainer writes to metrics.jsonl (`step` at each log point, `epoch`, `eval`, `end`) reaches each
logger as the same dict of floats, so a logger reads no tensor and adds no host sync: it sees the step scalars
every `train.log_every` steps, as metrics.jsonl does. Each keeps what it is given in its own buffer (TensorBoard's
event queue, a list of MLflow metrics, wandb's offline writer) and writes it out at the end of an epoch and at the
end of the run, never inside a step.

- `tensorboard` (zoo[tensorboard]): `RUN/tensorboard/`; scalars per log point and per epoch, every PNG the run
  draws (a generative task's per-epoch grids, curves.png at the end) as images, and the run config as hparams
  beside the final test metrics. A resumed run purges the steps after its checkpoint and continues the same log.
- `mlflow` (zoo[mlflow]): a local store under the run directory (`RUN/mlflow.db`, SQLite, MLflow's own default
  backend now that its plain file store is retired; artifacts in `RUN/mlruns/`), or `MLFLOW_TRACKING_URI`; params (the flattened config),
  metrics per log point, the bundle as an artifact. The run id is kept in `RUN/mlflow_run_id`, so a resumed
  run logs into the same MLflow run.
- `wandb` (zoo[wandb]): offline into `RUN/wandb/` unless `WANDB_MODE` says otherwise (never a network call by
  default); the run id is kept in `RUN/wandb_run_id` and a resumed run continues it.
- `csv`: `RUN/metrics.csv`, one row per value (`kind,step,epoch,name,value`), rebuilt from metrics.jsonl when a
  run resumes (so it never holds the steps a resume replays twice).

A logger whose package is missing is refused before training starts (`check_available`), naming the extra.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from zoo.engine.precision import first_line
from zoo.engine.rundir import METRICS, MetricsLog, RunDir
from zoo.errors import ConfigError

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}  # logger -> the package it needs
OWN_FOLDERS = {"tensorboard", "mlruns", "wandb", "bundle"}  # pictures in these are not the run's to log
SCALAR_SKIP = {"kind", "step", "epoch", "split", "time", "message"}


def check_available(names: list[str]) -> None:
    """One line naming the extra for the first logger whose package is not installed."""
    for name in names:
        package = PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(f"train.loggers: {name} needs the {package} package, which is not installed "
                              f'(pip install "zoo[{name}]")')


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}; lists and None as text, so every value is a scalar."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return out


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A record's numbers under TensorBoard-style names: `train/loss` (steps), `val/accuracy` (evaluations)."""
    kind = record.get("kind")
    section = {"step": "train", "epoch": "epoch", "eval": record.get("split", "eval"), "end": "test"}.get(kind)
    if section is None:
        return {}
    out = {}
    for key, value in record.items():
        if key in SCALAR_SKIP or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[f"{section}/{key.removeprefix('eval_')}"] = float(value)
    return out


class Sink:
    """What a logger does with the run's records; every method is optional."""

    def write(self, record: dict[str, Any]) -> None: ...

    def picture(self, path: Path, name: str, step: int) -> None: ...

    def flush(self) -> None: ...

    def finish(self, final: dict[str, float], bundle: Path) -> None: ...

    def close(self) -> None: ...


class Loggers:
    """The trainer's `log`: metrics.jsonl, then every other sink, with MetricsLog's `write` and `close`.

    `extra` sinks come from the caller (a sweep's pruning report): they see each record too, and may stop the run
    by raising."""

    def __init__(self, run: RunDir, config: Any, *, resume: bool, step: int, extra: list[Any] = ()) -> None:
        self.run = run
        self.jsonl = MetricsLog(run / METRICS)
        self.sinks: list[Any] = []
        try:
            self.sinks = [_open(name, run, config, resume, step) for name in config.train.loggers if name != "jsonl"]
        except BaseException:
            self.close()
            raise
        self.sinks += list(extra)
        self.seen: dict[Path, float] = {p: p.stat().st_mtime for p in self._pngs()}

    def _pngs(self) -> list[Path]:
        """The run's own pictures (not those inside the loggers' folders or the bundle)."""
        if not self.sinks:
            return []
        return sorted(p for p in self.run.path.rglob("*.png")
                      if p.relative_to(self.run.path).parts[0] not in OWN_FOLDERS and not p.name.startswith("."))

    def write(self, record: dict[str, Any]) -> None:
        record = {**record, "time": round(time.time(), 3)}
        self.jsonl.write(record)
        for sink in self.sinks:
            sink.write(record)
        if record.get("kind") in ("epoch", "end"):
            for sink in self.sinks:
                sink.flush()

    def pictures(self, step: int) -> None:
        """Every PNG under the run directory that is new or redrawn since the last call, as an image."""
        for path in self._pngs():
            mtime = path.stat().st_mtime
            if self.seen.get(path) == mtime:
                continue
            self.seen[path] = mtime
            name = path.relative_to(self.run.path).with_suffix("").as_posix()
            for sink in self.sinks:
                sink.picture(path, name, step)

    def finish(self, final: dict[str, float], step: int) -> None:
        """At the end of a run: its pictures (curves.png), the final metrics and the bundle."""
        self.pictures(step)
        for sink in self.sinks:
            sink.finish(final, self.run / "bundle")
            sink.flush()

    def close(self) -> None:
        """Every sink closed; one that fails to is a warning, never the run's outcome (nor hiding its error)."""
        import sys

        for sink in self.sinks:
            try:
                sink.close()
            except Exception as err:
                print(f"warning: train.loggers: {type(sink).__name__} did not close cleanly: {first_line(err)}",
                      file=sys.stderr)
        self.jsonl.close()


def _open(name: str, run: RunDir, config: Any, resume: bool, step: int) -> Sink:
    """The sink of logger `name`; one that cannot start (a tracking server out of reach) is a one-line error."""
    try:
        return _start(name, run, config, resume, step)
    except Exception as err:
        raise ConfigError(f"train.loggers: {name} could not start: {first_line(err)}") from err


def _start(name: str, run: RunDir, config: Any, resume: bool, step: int) -> Sink:
    if name == "tensorboard":
        return TensorBoardSink(run, config, resume, step)
    if name == "mlflow":
        return MlflowSink(run, config, resume)
    if name == "wandb":
        return WandbSink(run, config, resume)
    return CsvSink(run, resume)


def _kept_id(run: RunDir, name: str, resume: bool) -> str | None:
    path = run / name
    return path.read_text().strip() or None if resume and path.is_file() else None


class TensorBoardSink(Sink):
    def __init__(self, run: RunDir, config: Any, resume: bool, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.config = config
        # purge_step: events a resumed run writes again (after its checkpoint's step) replace the first ones
        self.writer = SummaryWriter(str(run / "tensorboard"), purge_step=step + 1 if resume else None, max_queue=1000)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record.get("step", 0))
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, step)

    def picture(self, path: Path, name: str, step: int) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image(name, pixels, step, dataformats="HWC")

    def finish(self, final: dict[str, float], bundle: Path) -> None:
        from torch.utils.tensorboard.summary import hparams

        metrics = {f"test/{k.removeprefix('eval_')}": float(v) for k, v in final.items()}
        experiment, start, end = hparams(flatten(self.config.model_dump(mode="json")), metrics)
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MlflowSink(Sink):
    """Through `MlflowClient` (no global active run, so processes and threads do not share one)."""

    def __init__(self, run: RunDir, config: Any, resume: bool) -> None:
        import logging

        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up talks at INFO
        local = run.path.resolve()
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{local / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=uri)
        self.pending: list[Any] = []
        run_id = _kept_id(run, "mlflow_run_id", resume)
        if run_id is None:
            experiment = self.client.get_experiment_by_name("zoo")
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(
                "zoo", artifact_location=None if "MLFLOW_TRACKING_URI" in os.environ else (local / "mlruns").as_uri())
            run_id = self.client.create_run(experiment_id, run_name=run.path.name,
                                            tags={"zoo.model": config.model.name}).info.run_id
            self._params(flatten(config.model_dump(mode="json")), run_id)
            run.write_text("mlflow_run_id", run_id + "\n")
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id

    def _params(self, params: dict[str, Any], run_id: str) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(run_id, params=items[i:i + 100])

    def write(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        stamp, step = int(record.get("time", 0) * 1000), int(record.get("step", 0))
        self.pending += [Metric(tag.replace("/", "_"), value, stamp, step) for tag, value in scalars(record).items()]

    def finish(self, final: dict[str, float], bundle: Path) -> None:
        self.flush()
        if bundle.is_dir():
            self.client.log_artifacts(self.run_id, str(bundle), "bundle")
        self.client.set_terminated(self.run_id)

    def flush(self) -> None:
        for i in range(0, len(self.pending), 1000):
            self.client.log_batch(self.run_id, metrics=self.pending[i:i + 1000])
        self.pending = []

    def close(self) -> None:
        self.flush()


class WandbSink(Sink):
    def __init__(self, run: RunDir, config: Any, resume: bool) -> None:
        import wandb

        run_id = _kept_id(run, "wandb_run_id", resume) or uuid.uuid4().hex[:8]
        run.write_text("wandb_run_id", run_id + "\n")
        mode = os.environ.get("WANDB_MODE", "offline")  # a user who configured wandb sets WANDB_MODE=online
        self.wandb = wandb.init(dir=str(run.path), id=run_id, resume="allow", mode=mode, project="zoo",
                                name=run.path.name, config=config.model_dump(mode="json"),
                                settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))
        self.pending: list[tuple[int, dict[str, float]]] = []

    def write(self, record: dict[str, Any]) -> None:
        values = scalars(record)
        if values:
            self.pending.append((int(record.get("step", 0)), values))

    def picture(self, path: Path, name: str, step: int) -> None:
        import wandb

        self.pending.append((step, {name: wandb.Image(str(path))}))

    def finish(self, final: dict[str, float], bundle: Path) -> None:
        self.flush()
        for key, value in final.items():
            self.wandb.summary[f"test/{key.removeprefix('eval_')}"] = value

    def flush(self) -> None:
        for step, values in self.pending:
            self.wandb.log(values, step=step)
        self.pending = []

    def close(self) -> None:
        self.flush()
        self.wandb.finish()


class CsvSink(Sink):
    FIELDS = ["time", "kind", "step", "epoch", "name", "value"]

    def __init__(self, run: RunDir, resume: bool) -> None:
        path = run / "metrics.csv"
        rows = [row for record in run.records() for row in self._rows(record)] if resume else []
        self.file = open(path, "w", newline="", buffering=1)
        self.out = csv.DictWriter(self.file, self.FIELDS)
        self.out.writeheader()
        self.out.writerows(rows)

    def _rows(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        base = {k: record.get(k, "") for k in ("time", "kind", "step", "epoch")}
        return [{**base, "name": tag, "value": value} for tag, value in scalars(record).items()]

    def write(self, record: dict[str, Any]) -> None:
        self.out.writerows(self._rows({"time": record.get("time", ""), **record}))

    def close(self) -> None:
        self.file.close()
