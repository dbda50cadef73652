from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, note

# train-section fields that are flags of their own (the rest go through --set)
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "momentum", "weight_decay", "grad_clip",
               "early_stop", "seed", "init_from")


@app.command("train")
def train_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Model or family name (optional with --resume).", autocompletion=complete.model_names)] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset: a registered one (`zoo list --datasets`) or an image folder.", autocompletion=complete.datasets)] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML/JSON run config (model/data/train sections) or model config.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: train.lr=0.1, model.num_classes=5, data.val_size=5000, or a bare unambiguous key.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs to train.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Batch size (summed over processes).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw.")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="cosine, step, multistep, poly, tanh, wsd, constant or none.")] = None,
    momentum: Annotated[Optional[float], typer.Option("--momentum", help="Momentum of the momentum/nesterov/rmsprop optimizers.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="Weight decay.")] = None,
    grad_clip: Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the gradient norm to this value.")] = None,
    early_stop: Annotated[Optional[int], typer.Option("--early-stop", help="Stop after this many evaluations without improvement.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<model>-<time>).")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this directory from its last checkpoint.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="One line per epoch instead of a progress bar.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and print the whole run config; train nothing, write nothing.")] = False,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Start from these weights: a bundle, tag, hf:// repo, or torchvision/timm checkpoint (fresh head if num_classes differs).")] = None,
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
    from zoo.engine.runs import compose_request, train_run

    req = request_from(locals())
    if dry_run:
        from zoo.engine.config import to_yaml

        typer.echo(to_yaml(compose_request(req, _main_note)[0]), nl=False)
        return
    result = train_run(req, _main_note)
    if isinstance(result, int):  # the DDP launcher's exit code
        raise typer.Exit(result)


def request_from(params: dict[str, Any]) -> Any:
    """The RunRequest of `zoo train`'s parameters (`zoo sweep` reads its training flags through this command too)."""
    from zoo.engine.runs import COMMAND_ENV, RunRequest

    p = params
    flags = {k: p[k] for k in TRAIN_FLAGS}
    flags["freeze"] = [f.strip() for f in p["freeze"].split(",") if f.strip()] if p["freeze"] is not None else None
    command = os.environ.get(COMMAND_ENV) or "zoo " + shlex.join(sys.argv[1:])
    return RunRequest(name=p["name"], data=p["data"], config_file=p["config_file"], sets=p["sets"] or [], flags=flags,
                      out=p["out"], resume=p["resume"], quiet=p["quiet"], command=command,
                      launch=dict(nproc=p["nproc_per_node"], nnodes=p["nnodes"], node_rank=p["node_rank"],
                                  master_addr=p["master_addr"], master_port=p["master_port"]))


def training_request(ctx: typer.Context, name: str, command: str, why: str) -> Any:
    """What `zoo train NAME ...` would run for the rest of `ctx`'s command line (`zoo sweep`, `zoo lr-find`: every
    training flag fixes the same part of the config); the flags that make or place a run are refused, saying `why`."""
    from dataclasses import replace

    from zoo.errors import ConfigError

    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    with train.make_context(f"zoo {command}", [name, *ctx.args]) as train_ctx:
        params = dict(train_ctx.params)
    refused = [flag for flag, key, default in (("--resume", "resume", None), ("--out", "out", None),
                                               ("--dry-run", "dry_run", False), ("--nproc-per-node", "nproc_per_node", 1),
                                               ("--nnodes", "nnodes", 1)) if params.get(key) != default]
    if refused:
        raise ConfigError(f"zoo {command} takes no training {refused[0]} ({why})")
    params.pop("dry_run")
    return replace(request_from(params), command=shlex.join(["zoo", "train", name, *ctx.args]))


def _main_note(message: str) -> None:
    note(message)
