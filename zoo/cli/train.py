from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, note
from zoo.errors import ZooError

COMMAND_ENV = "ZOO_TRAIN_COMMAND"  # the user's command line, handed to torchrun's workers for the model card


@app.command("train")
def train_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Model or family name (optional with --resume).", autocompletion=complete.model_names)] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset: mnist, fashion-mnist, cifar10, mnist-captions, or an image folder.", autocompletion=complete.datasets)] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML/JSON run config (model/data/train sections) or model config.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: train.lr=0.1, model.num_classes=5, data.val_size=5000, or a bare unambiguous key.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs to train.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Batch size (summed over processes).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw.")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="cosine, step, multistep, poly, tanh, wsd, constant or none.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="Weight decay.")] = None,
    grad_clip: Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the gradient norm to this value.")] = None,
    early_stop: Annotated[Optional[int], typer.Option("--early-stop", help="Stop after this many evaluations without improvement.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<model>-<time>).")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this directory from its last checkpoint.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="One line per epoch instead of a progress bar.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and print the whole run config; train nothing, write nothing.")] = False,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Start from this bundle's weights (fresh head if num_classes differs).")] = None,
    freeze: Annotated[Optional[str], typer.Option("--freeze", help="Comma-separated modules to keep fixed (e.g. features).")] = None,
    nproc_per_node: Annotated[int, typer.Option("--nproc-per-node", help="Processes on this node (DDP under torch.distributed.run).")] = 1,
    nnodes: Annotated[int, typer.Option("--nnodes", help="Nodes taking part (torchrun).")] = 1,
    node_rank: Annotated[int, typer.Option("--node-rank", help="This node's rank (torchrun).")] = 0,
    master_addr: Annotated[str, typer.Option("--master-addr", help="Address of node 0 (torchrun).")] = "127.0.0.1",
    master_port: Annotated[Optional[int], typer.Option("--master-port", help="Port on node 0 (torchrun; default: a free one).")] = None,
) -> None:
    """Train a model: real data, progress, metrics, checkpoints, resume, and a weights bundle at the end.

    Config layers, later winning: train defaults (or the plugin's recipe), --config, flags, --set.

    Unset model fields follow the data: classes, channels, a small input for 224-pixel models.

    Exit codes: 2 bad input, 3 the loss diverged.
    """
    from zoo.engine.distributed import from_env

    flags = dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, scheduler=scheduler,
                 weight_decay=weight_decay, grad_clip=grad_clip, early_stop=early_stop, seed=seed, init_from=init_from,
                 freeze=[f.strip() for f in freeze.split(",") if f.strip()] if freeze is not None else None)
    from zoo.engine.rundir import RunDir

    command = os.environ.get(COMMAND_ENV) or "zoo " + shlex.join(sys.argv[1:])
    if dry_run:
        _dry_run(name, data, config_file, sets or [], flags, resume)
        return
    # An existing directory is locked before it is read, so a second writer hears who holds it.
    named = resume if resume is not None else out
    lock = _lock(RunDir(named), command) if named is not None and named.is_dir() else None
    try:
        if resume is not None:
            config, run = _resumed(resume, name, data, config_file, sets or [], flags)
        else:
            config, run = _fresh(name, data, config_file, sets or [], flags, out)
        if lock is None:
            lock = _lock(run, command)
        if nproc_per_node > 1 or nnodes > 1:
            if from_env().active:
                raise ZooError("--nproc-per-node/--nnodes given inside a distributed worker")
            raise typer.Exit(_launch(config, run, resume is not None, quiet, command,
                                     dict(nproc=nproc_per_node, nnodes=nnodes, node_rank=node_rank,
                                          master_addr=master_addr, master_port=master_port)))
        from zoo.engine.trainer import Trainer

        Trainer(config, run, resume=resume is not None, quiet=quiet, command=command).fit()
    finally:
        if lock is not None:
            lock.release()


def _dry_run(name: Optional[str], data: Optional[str], config_file: Optional[Path], sets: list[str],
             flags: dict[str, Any], resume: Optional[Path]) -> None:
    from zoo.engine.config import to_yaml

    if resume is not None:
        config, _ = _resumed(resume, name, data, config_file, sets, flags)
    else:
        config, _ = _fresh(name, data, config_file, sets, flags, None)
    typer.echo(to_yaml(config), nl=False)


def _lock(run: Any, command: str) -> Any:
    """Hold the run directory for this command (and the workers it launches) while it runs."""
    from zoo.engine.distributed import from_env
    from zoo.engine.rundir import LOCK_ENV, RunLock, describe_holder

    if os.environ.get(LOCK_ENV) == str(run.path.resolve()) or not from_env().main:
        return None  # the launcher holds it for us, or rank 0 of this job does
    lock = RunLock(run.path).acquire(command)
    if lock.took_over:
        note(f"{run.path} was last written by {describe_holder(lock.took_over)}, which is gone; taking over")
    return lock


def _has_files(path: Path) -> bool:
    from zoo.engine.rundir import LOCK

    return path.is_dir() and any(p.name != LOCK for p in path.iterdir())


def _fresh(name: Optional[str], data: Optional[str], config_file: Optional[Path], sets: list[str],
           flags: dict[str, Any], out: Optional[Path]) -> tuple[Any, Any]:
    from zoo.api import resolve
    from zoo.config import load_config_file
    from zoo.engine.config import compose
    from zoo.engine.distributed import from_env
    from zoo.engine.rundir import RunDir, default_run_dir

    if name is None:
        raise ZooError("name a model to train (see `zoo list`), or --resume a run directory")
    spec, family_note = resolve(name)
    if family_note and from_env().main:
        note(family_note)
    file_doc = load_config_file(config_file) if config_file else {}
    notes: list[str] = []
    config = compose(spec.qualified_name, file_doc, flags, sets, data_name=data, notes=notes)
    for message in notes if from_env().main else []:
        note(message)
    run = RunDir(out if out is not None else default_run_dir(spec.name))
    if from_env().main and _has_files(run.path):
        what = "a run" if run.is_run() else "not empty"
        raise ZooError(f"{run.path} already exists and is {what}; use --resume {run.path} to continue it, or another --out")
    return config, run


def _resumed(path: Path, name: Optional[str], data: Optional[str], config_file: Optional[Path], sets: list[str],
             flags: dict[str, Any]) -> tuple[Any, Any]:
    """The saved config (only train.epochs may change); refuses other models and disagreeing configs."""
    from zoo.api import resolve
    from zoo.config import validate_config
    from zoo.engine.config import RunConfig, compose, differences
    from zoo.engine.rundir import CHECKPOINT, RunDir, RunDirError

    run = RunDir(path)
    saved = validate_config(RunConfig, run.read_config_doc(), f"run config {path / 'config.yaml'}")
    if name is not None:
        asked_model = resolve(name)[0].qualified_name
        if asked_model != saved.model.name:
            raise RunDirError(f"{path} is a run of {saved.model.name}, not {asked_model}")
    if not (run / CHECKPOINT).is_file():
        raise RunDirError(f"{path} has no checkpoint to resume from ({CHECKPOINT} is missing)")
    from zoo.config import load_config_file

    if config_file:  # the file must describe the saved run (only epochs may differ)
        asked = compose(saved.model.name, load_config_file(config_file), flags, sets, data_name=data)
    else:
        asked = compose(saved.model.name, saved.model_dump(mode="json"),
                        {**saved.train.model_dump(), **{k: v for k, v in flags.items() if v is not None}}, sets, data_name=data)
    changed = [d for d in differences(saved, asked) if not d.startswith("train.epochs ")]
    if changed:
        raise RunDirError(f"the config disagrees with the checkpoint in {path}: {'; '.join(changed)} "
                          "(only --epochs may change when resuming)")
    return asked, run


def _launch(config: Any, run: Any, resume: bool, quiet: bool, command: str, where: dict[str, Any]) -> int:
    """Re-run this command in N processes under torch.distributed.run, with the config already composed."""
    import tempfile

    from zoo.engine.config import to_yaml
    from zoo.engine.distributed import launch

    from zoo.data import load_dataset

    load_dataset(config.data_config(), "train")  # fetch once here, not in every worker at the same time
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "run.yaml"
        cfg.write_text(to_yaml(config))
        args = ["train", "--resume", str(run.path), "--epochs", str(config.train.epochs)] if resume else \
            ["train", config.model.name, "--config", str(cfg), "--out", str(run.path)]
        if quiet:
            args.append("--quiet")
        from zoo.engine.rundir import LOCK_ENV

        os.environ[COMMAND_ENV] = command
        os.environ[LOCK_ENV] = str(run.path.resolve())  # the workers write the run this process holds
        try:
            return launch(args, **where)
        finally:
            del os.environ[LOCK_ENV]
