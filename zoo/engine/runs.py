"""Starting, resuming and launching a run: the policy behind `zoo train` and `zoo.train`.

    run = train_run(RunRequest(name="lenet5", data="mnist", flags={"epochs": 1}))

- A fresh run composes its config (`zoo.engine.config.compose`) and refuses a directory that
  already holds files (use `resume`, or another `out`). A new directory is made only once the
  run's setup succeeded (bad input leaves none), whole: config.yaml and the lock from its first
  moment (`RunDir.create`).
- A resumed run reads the saved config; only `train.epochs` may change, anything else that
  differs from the checkpoint's run is refused, field by field. A run killed before its first
  checkpoint resumes from the start.
- The run directory is locked (`RunLock`) by the one process that writes it, before it is read,
  so a second writer hears who holds it; a launcher's workers run under their launcher's lock.
- `nproc_per_node`/`nnodes` > 1 re-runs the request under torch.distributed.run (DDP) with the
  config already composed, after fetching the data once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.engine.rundir import BUNDLE, LOCK_ENV, RunDir, RunDirError, RunLock, default_run_dir
from zoo.errors import ZooError

COMMAND_ENV = "ZOO_TRAIN_COMMAND"  # the user's command line, handed to torchrun's workers for the model card


@dataclass
class RunRequest:
    """What a user asked for: `zoo train`'s arguments, or `zoo.train`'s."""

    name: str | None = None
    data: str | None = None
    config_file: Path | None = None
    sets: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)  # train-section fields given as flags (--epochs, --lr ...)
    out: Path | None = None
    resume: Path | None = None
    quiet: bool = False
    command: str = ""
    launch: dict[str, Any] = field(default_factory=dict)  # nproc, nnodes, node_rank, master_addr, master_port
    sinks: list[Any] = field(default_factory=list)  # more receivers of the metrics records (a sweep's pruner)


@dataclass
class Run:
    """A finished run: its directory, config and final evaluation (of the weights in the bundle)."""

    dir: Path
    config: Any
    final: dict[str, float]

    @property
    def bundle(self) -> Path:
        return self.dir / BUNDLE

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl: {"kind": "step" | "epoch" | "eval" | "end" | "warning", ...}."""
        return RunDir(self.dir).records()


def compose_request(req: RunRequest, say: Callable[[str], None] = lambda _: None) -> tuple[Any, RunDir]:
    """The validated run config and run directory for `req` (nothing written)."""
    if req.resume is not None:
        return _resumed(req)
    return _fresh(req, say)


def train_run(req: RunRequest, say: Callable[[str], None] = lambda _: None) -> Run | int:
    """Train what `req` asks for; a `Run` when this process trained it, the launcher's exit code under DDP."""
    from zoo.engine.distributed import from_env

    named = req.resume if req.resume is not None else req.out
    # An existing directory is locked before it is read, so a second writer hears who holds it.
    lock = _lock(RunDir(named), req.command, say) if named is not None and named.is_dir() else None
    try:
        config, run = compose_request(req, say)
        if req.launch.get("nproc", 1) > 1 or req.launch.get("nnodes", 1) > 1:
            if from_env().active:
                raise ZooError("--nproc-per-node/--nnodes given inside a distributed worker")
            if lock is None:  # the launcher makes the directory, whole and locked, before its workers start
                from zoo.engine.config import to_yaml

                lock = run.create(to_yaml(config), req.command)
            return _launch(config, run, req)
        from zoo.engine.trainer import Trainer

        # Without a lock here, the trainer makes the directory (locked) once its setup succeeded.
        held = lock is not None or _held_for_us(run)
        final = Trainer(config, run, resume=req.resume is not None, quiet=req.quiet, command=req.command,
                        locked=held, sinks=req.sinks).fit()
        return Run(run.path, config, {k.removeprefix("eval_"): v for k, v in final.items()})
    finally:
        if lock is not None:
            lock.release()


def _held_for_us(run: RunDir) -> bool:
    """A launcher holds the run's lock for its workers (or rank 0 of this job does, for the other ranks)."""
    from zoo.engine.distributed import from_env

    return os.environ.get(LOCK_ENV) == str(run.path.resolve()) or not from_env().main


def _lock(run: RunDir, command: str, say: Callable[[str], None]) -> RunLock | None:
    """Hold the run directory for this command (and the workers it launches) while it runs."""
    from zoo.engine.rundir import describe_holder

    if _held_for_us(run):
        return None
    lock = RunLock(run.path).acquire(command)
    if lock.took_over:
        say(f"{run.path} was last written by {describe_holder(lock.took_over)}, which is gone; taking over")
    return lock


def _fresh(req: RunRequest, say: Callable[[str], None]) -> tuple[Any, RunDir]:
    from zoo.config import load_config_file
    from zoo.engine.config import compose
    from zoo.engine.distributed import from_env
    from zoo.names import resolve

    file_doc = load_config_file(req.config_file) if req.config_file else {}
    model = file_doc.get("model") if isinstance(file_doc.get("model"), dict) else {}
    name = req.name or model.get("name")  # a whole run config (a run's config.yaml, a sweep's best.yaml) names it
    if name is None:
        raise ZooError("name a model to train (see `zoo list`), or --resume a run directory")
    spec, family_note = resolve(name)
    main = from_env().main
    if family_note and main:
        say(family_note)
    notes: list[str] = []
    config = compose(spec.qualified_name, file_doc, req.flags, req.sets, data_name=req.data, notes=notes)
    for message in notes if main else []:
        say(message)
    run = RunDir(req.out if req.out is not None else default_run_dir(spec.name))
    if main and run.has_files() and not _held_for_us(run):  # (a launcher made it for its workers)
        what = "a run" if run.is_run() else "not empty"
        raise ZooError(f"{run.path} already exists and is {what}; use --resume {run.path} to continue it, or another --out")
    return config, run


def _resumed(req: RunRequest) -> tuple[Any, RunDir]:
    """The saved config (only train.epochs may change); refuses other models and disagreeing configs."""
    from zoo.config import load_config_file, validate_config
    from zoo.engine.config import RunConfig, compose, differences
    from zoo.names import resolve

    path = req.resume
    run = RunDir(path)
    saved = validate_config(RunConfig, run.read_config_doc(), f"run config {path / 'config.yaml'}")
    if req.name is not None:
        asked_model = resolve(req.name)[0].qualified_name
        if asked_model != saved.model.name:
            raise RunDirError(f"{path} is a run of {saved.model.name}, not {asked_model}")
    flags = {k: v for k, v in req.flags.items() if v is not None}
    if req.config_file:  # the file must describe the saved run (only epochs may differ)
        asked = compose(saved.model.name, load_config_file(req.config_file), flags, req.sets, data_name=req.data)
    else:
        asked = compose(saved.model.name, saved.model_dump(mode="json"), {**saved.train.model_dump(), **flags},
                        req.sets, data_name=req.data)
    changed = [d for d in differences(saved, asked) if not d.startswith("train.epochs ")]
    if changed:
        raise RunDirError(f"the config disagrees with the checkpoint in {path}: {'; '.join(changed)} "
                          "(only --epochs may change when resuming)")
    return asked, run


def _launch(config: Any, run: RunDir, req: RunRequest) -> int:
    """Re-run the request in N processes under torch.distributed.run, with the config already composed."""
    from zoo.data.loading import fetch_for
    from zoo.engine.config import to_yaml
    from zoo.engine.distributed import launch

    fetch_for(config.data)  # fetch once here, not in every worker at the same time (nor read: it may stream)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "run.yaml"
        cfg.write_text(to_yaml(config))
        resume = req.resume is not None
        args = ["train", "--resume", str(run.path), "--epochs", str(config.train.epochs)] if resume else \
            ["train", config.model.name, "--config", str(cfg), "--out", str(run.path)]
        if req.quiet:
            args.append("--quiet")
        os.environ[COMMAND_ENV] = req.command
        os.environ[LOCK_ENV] = str(run.path.resolve())  # the workers write the run this process holds
        try:
            return launch(args, **req.launch)
        finally:
            del os.environ[LOCK_ENV]
