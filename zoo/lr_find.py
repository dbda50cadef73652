"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3,
in the form fast.ai and Lightning run it): train a few hundred steps while the learning rate grows exponentially
from `start_lr` to `end_lr`, record the loss, and suggest the rate where the smoothed loss falls fastest.

The steps are the run's own (`Trainer.setup` builds the model, data, optimizers, precision exactly as `zoo train`
would; `Trainer._train_step` takes each step), only the learning rate is set by the test: every parameter group
gets it, times its `lr_scale` (discriminative rates keep their ratios). The loss is smoothed by an exponential
moving average with bias correction (beta 0.98); the test stops early once the smoothed loss exceeds 4x its best
or goes non-finite. The suggestion is the steepest descent of the smoothed loss against log lr, searched between
the first 10 steps (the average is still settling) and the lowest point (after it the loss only climbs).

Nothing is kept: the model's weights and buffers, the optimizers' state and the RNG are restored afterwards, and
nothing is written but the plot.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ConfigError

SMOOTHING = 0.98
DIVERGE = 4.0  # stop once the smoothed loss is this many times its best
SKIP_START = 10  # steps the suggestion ignores while the moving average settles
READ_EVERY = 10  # steps between reads of the losses off the device (the divergence check)


@dataclass
class RangeTest:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    recipe_lr: float
    stopped: str  # why the ramp ended: "end of the range" or "diverged at lr ..."

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Exponential moving average with bias correction (the first values are not pulled towards 0)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** i))
    return out


def steepest(lrs: list[float], smoothed: list[float], skip: int = SKIP_START) -> float | None:
    """The lr where the smoothed loss falls fastest per decade, before its lowest point."""
    import numpy as np

    lowest = int(np.argmin(smoothed))
    if lowest - skip < 2:
        return None
    grads = np.gradient(np.asarray(smoothed[skip:lowest + 1]), np.log10(lrs[skip:lowest + 1]))
    return float(lrs[skip + int(np.argmin(grads))])


def range_test(trainer: Any, steps: int = 200, start_lr: float = 1e-7, end_lr: float = 10.0) -> RangeTest:
    """The test on a trainer after `setup()`; its model, optimizers and RNG are as they were afterwards."""
    from zoo.engine.trainer import kept

    check_ramp(steps, start_lr, end_lr)
    saved_optim = {n: copy.deepcopy(o.state_dict()) for n, o in trainer.optimizers.items()}
    rng = torch.random.get_rng_state()
    try:
        with kept(trainer.model):
            lrs, losses, stopped = _ramp(trainer, steps, start_lr, end_lr)
    finally:
        for name, opt in trainer.optimizers.items():
            opt.load_state_dict(saved_optim[name])
        torch.random.set_rng_state(rng)
    smoothed = smooth(losses)
    return RangeTest(lrs, losses, smoothed, steepest(lrs, smoothed), trainer.train.lr, stopped)


def check_ramp(steps: int, start_lr: float, end_lr: float) -> None:
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"--start-lr {start_lr:g} and --end-lr {end_lr:g}: need 0 < start < end")
    if steps < SKIP_START + 3:
        raise ConfigError(f"--steps {steps}: the test needs at least {SKIP_START + 3} steps")


def _ramp(trainer: Any, steps: int, start_lr: float, end_lr: float) -> tuple[list[float], list[float], str]:
    ratio = (end_lr / start_lr) ** (1 / (steps - 1))
    for module in trainer.modules.values():
        module.train()
    lrs: list[float] = []
    pending: list[torch.Tensor] = []  # the losses on the device, read every READ_EVERY steps
    losses: list[float] = []
    batches = _endless(trainer)
    for i in range(steps):
        lr = start_lr * ratio ** i
        for opt in trainer.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
        metrics = trainer._train_step(next(batches))
        if "loss" not in metrics:
            raise ConfigError(f"zoo lr-find needs a task whose step reports one 'loss' (this one reports "
                              f"{', '.join(metrics)}); set each optimizer's lr with train.optim.<module>.lr instead")
        lrs.append(lr)
        pending.append(metrics["loss"].detach())
        if len(pending) == READ_EVERY or i == steps - 1:
            losses += torch.stack(pending).double().cpu().tolist()
            pending = []
            smoothed = smooth(losses)
            bad = next((j for j, v in enumerate(smoothed) if not math.isfinite(v) or v > DIVERGE * min(smoothed[:j + 1])), None)
            if bad is not None:
                return lrs[:bad], losses[:bad], f"diverged at lr {lrs[bad]:.3g}"
    return lrs, losses, "end of the range"


def _endless(trainer: Any):
    """The run's batches, epoch after epoch."""
    p = trainer.progress
    while True:
        for _, batch in trainer._batches():
            yield batch
        p.epoch, p.batch = p.epoch + 1, 0


def plot(result: RangeTest, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(result.lrs, result.losses, alpha=0.3, label="loss")
    axis.plot(result.lrs, result.smoothed, label="smoothed loss")
    if result.suggestion is not None:
        at = result.lrs.index(result.suggestion)
        axis.plot([result.suggestion], [result.smoothed[at]], "o", color="red",
                  label=f"suggested lr {result.suggestion:.2g} (steepest descent)")
    axis.axvline(result.recipe_lr, color="grey", linestyle="--", label=f"recipe lr {result.recipe_lr:.2g}")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    axis.set_title(title)
    finite = [v for v in result.smoothed if math.isfinite(v)]
    if finite:
        axis.set_ylim(min(min(finite), min(v for v in result.losses if math.isfinite(v))) * 0.9, min(max(result.smoothed[0], finite[-1]) * 1.5, max(finite) * 1.1))
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def lr_find(req: Any, steps: int = 200, start_lr: float = 1e-7, end_lr: float = 10.0) -> tuple[RangeTest, Any]:
    """The range test of `req`'s run (a zoo.engine.runs.RunRequest), and the run config it used."""
    from zoo.engine.rundir import RunDir
    from zoo.engine.runs import compose_request
    from zoo.engine.trainer import Trainer

    check_ramp(steps, start_lr, end_lr)
    config, run = compose_request(req)
    trainer = Trainer(config, RunDir(run.path), quiet=True)  # set up only: the run directory is never made
    try:
        trainer.setup()
        return range_test(trainer, steps, start_lr, end_lr), config
    finally:
        trainer._close_loaders()
