"""The one training loop every task runs through.

Per step: slice a batch out of in-memory tensors (seeded permutation, sharded across
processes), or take the one a DataLoader's workers read in the same order when the data
streams (zoo.engine.loader); with data.augment=flip-crop, crop and mirror it (zoo.data.augment);
let the task step its optimizers, update the schedules, accumulate metrics.
Per epoch: evaluate on the eval split ('val', held out of the training split, unless
data.val_size=0 makes it 'test'), keep best and last weights, checkpoint, maybe stop early.
At the end: the test split is read, once, to report the weights that ship; then the weights
bundle; then what is optional (curves).

Non-finite losses, without a host sync per step: the Stepper tests every loss for NaN/inf on
the device and records the first non-finite one there; nothing is read back per step (metrics
are summed on the device too, in float64). The trainer reads that record at its boundaries:
every log point (`train.log_every`, and always the last step of an epoch) and every checkpoint.
What is guaranteed: no update made from a non-finite loss, nor any later one, reaches a
checkpoint, the last/best weights, an evaluation or the bundle. The run stops at the first
boundary after it (TrainingDiverged, exit 3), naming the step where the loss first went
non-finite, with the last good checkpoint kept. What is not: the steps between that loss and
the boundary are still computed (wasted, never written), and a progress-bar refresh in
between may show NaN. Under DDP the record is gathered from every process at each boundary,
so all of them stop together.

Precision and compile (`zoo.engine.precision`): each step runs under `train.precision`
(autocast for bf16/fp16, GradScalers for fp16, the TF32 switches on a GPU); with
`train.compile` the modules the task steps are compiled, the weights saved stay the modules'
own.

Determinism: the model is initialised after `torch.manual_seed(seed)`; epoch e's data order
is `randperm` under seed (seed, e); dropout draws from the global RNG, whose state every
checkpoint carries; augmentation draws from generators seeded by (seed, epoch, batch or
position). So a run resumed from any checkpoint replays the same steps exactly, streamed or not.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.data.augment import batch_generator, flip_crop, flip_crop_params
from zoo.data.streaming import StreamedSplit, loader_workers, make_loader
from zoo.engine import checkpoint as ckpt
from zoo.engine import distributed
from zoo.engine.config import ModuleOptim, RunConfig, TrainConfig
from zoo.engine.display import Display
from zoo.engine.loader import EpochSampler
from zoo.engine.loggers import Loggers, check_available
from zoo.engine.precision import Compiled, CompileError, Precision, compile_failure, first_line
from zoo.engine.rundir import BEST, BUNDLE, CHECKPOINT, LAST, RunDir, RunDirError, RunLock, plot_curves
from zoo.errors import ConfigError, ZooError


DISPLAY_EVERY = 10  # steps between progress-bar refreshes (each reads the metrics off the device)
EXTRAS = {"matplotlib": "plots"}  # optional package -> the zoo extra that installs it


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the run stopped with its last good checkpoint kept."""

    exit_code = 3


class NonFiniteLoss(Exception):
    def __init__(self, name: str, value: float, step: int | None = None) -> None:
        super().__init__(f"loss is {value}" if name == "model" else f"{name} loss is {value}")
        self.name, self.value, self.step = name, value, step  # step: where it first went non-finite (1-based)


@dataclass
class Progress:
    """Where a run is; saved in every checkpoint as JSON."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    best: float | None = None
    best_epoch: int | None = None
    stale: int = 0  # evaluations since the best one
    sums: dict[str, float] = field(default_factory=dict)  # this epoch's metric sums (batch means x batches)
    batches: int = 0
    stopped_early: bool = False


class Stepper:
    """`task.train_step`'s handle on the optimizers: backward (scaled under fp16), clip, update, and the watch on
    the losses.

    Nothing is read off the device: each loss is tested for NaN/inf there, and the first non-finite one (its
    step, its module, its value) is recorded in device tensors; `first_non_finite()` reads them, which the
    trainer does at its boundaries (see the trainer's docstring for what that guarantees).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], modules: dict[str, nn.Module],
                 clip: float | None, dist: distributed.Dist, precision: Precision | None = None,
                 scalers: dict[str, torch.amp.GradScaler] | None = None) -> None:
        self.optimizers, self.modules, self.clip, self.dist = optimizers, modules, clip, dist
        self.precision = precision or Precision("fp32", torch.device("cpu"))
        self.scalers = scalers or {}
        self.names = list(optimizers)
        self.at_step = 1  # the step being taken (1-based), set by the trainer before each train_step
        params = (p for m in modules.values() for p in m.parameters())
        device = next(params, torch.zeros(())).device
        # the first non-finite loss: step (0 while there is none), index of its optimizer in `names`, value
        self.bad_step = torch.zeros((), dtype=torch.int64, device=device)
        self.bad_name = torch.zeros((), dtype=torch.int64, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float64, device=device)

    def step(self, loss: torch.Tensor, name: str = "model") -> None:
        self._watch(loss, name)
        opt, scaler = self.optimizers[name], self.scalers.get(name)
        opt.zero_grad(set_to_none=True)
        with self.precision.backward():
            (scaler.scale(loss) if scaler is not None else loss).backward()
        if self.clip:
            if scaler is not None:
                scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.modules[name].parameters(), self.clip)
        if scaler is not None:
            scaler.step(opt)  # skipped when the scaled gradients overflowed; the scale then shrinks
            scaler.update()
        else:
            opt.step()

    def _watch(self, loss: torch.Tensor, name: str) -> None:
        value = loss.detach().to(torch.float64).sum()
        fresh = ~torch.isfinite(value) & (self.bad_step == 0)
        self.bad_step = torch.where(fresh, self.at_step, self.bad_step)
        self.bad_name = torch.where(fresh, self.names.index(name), self.bad_name)
        self.bad_value = torch.where(fresh, value, self.bad_value)

    def first_non_finite(self) -> NonFiniteLoss | None:
        """The first non-finite loss on any process, or None: one read of the device (and one all-gather
        under DDP, so that every process stops at the same boundary)."""
        mine = torch.stack([self.bad_step.to(torch.float64), self.bad_name.to(torch.float64), self.bad_value])
        rows = distributed.gather_rows(mine, self.dist)
        bad = [r for r in rows if r[0] > 0]
        if not bad:
            return None
        step, index, value = min(bad)
        return NonFiniteLoss(self.names[int(index)], value, int(step))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch `epoch`: a function of (seed, epoch) only, so resume replays it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def build_optimizer(train: TrainConfig, module: nn.Module, name: str = "model",
                    parts: dict[str, ModuleOptim] | None = None) -> torch.optim.Optimizer:
    """The optimizer of task module `name`, from `train.optim.<name>` over the train section's settings.

    `parts` are `train.optim` entries naming submodules of this module (`optim_parts`): each gets its own
    parameter groups (discriminative learning rates: a backbone's and a head's). With `train.unfreeze_at`
    the frozen parameters are in the groups from the start (an optimizer skips parameters without a
    gradient), so the optimizer, and every checkpoint of it, keeps one shape across the two phases.
    """
    from timm.optim import create_optimizer_v2

    o = train.optim_for(name)
    # timm's 'sgd' is Nesterov momentum; ours is plain SGD: timm's 'momentum' with momentum 0.
    opt, momentum = ("momentum", 0.0) if o.optimizer == "sgd" else (o.optimizer, o.momentum)
    extra: dict[str, Any] = {"betas": o.betas} if o.betas is not None and o.optimizer in ("adam", "adamw") else {}
    if parts or train.unfreeze_at is not None:
        groups = param_groups(module, o, parts or {}, keep_frozen=train.unfreeze_at is not None)
        extra["param_group_fn"] = lambda _: groups
    if train.precision == "fp16" and o.optimizer in ("adam", "adamw") and any(p.is_cuda for p in module.parameters()):
        extra["fused"] = True  # GradScaler hands a fused optimizer its overflow flag on the GPU: no host read per step
    return create_optimizer_v2(module, opt=opt, lr=o.lr, weight_decay=o.weight_decay, momentum=momentum, **extra)


def optim_parts(train: TrainConfig, modules: dict[str, nn.Module]) -> dict[str, dict[str, ModuleOptim]]:
    """`train.optim` entries that name a submodule of a task module ("features" of a classifier's "model"), by
    that module, each over its module's settings; an entry naming neither a module nor a submodule is refused."""
    parts: dict[str, dict[str, ModuleOptim]] = {n: {} for n in modules}
    for key, entry in train.optim.items():
        if key in modules:
            continue
        owners = [n for n, m in modules.items() if key and key in dict(m.named_modules())]
        if len(owners) != 1:
            subs = "; ".join(f"submodules of {n}: {', '.join(c for c, _ in m.named_children()) or 'none'}"
                             for n, m in modules.items())
            what = f"a submodule of {' and of '.join(owners)}, ambiguous" if owners else "no module or submodule of that name"
            raise ConfigError(f"train.optim.{key}: {what} in this task (modules: {', '.join(modules)}; {subs})")
        if entry.optimizer is not None:
            raise ConfigError(f"train.optim.{key}.optimizer: a submodule's parameters are stepped by their module's "
                              f"optimizer; set train.optim.{owners[0]}.optimizer or train.optimizer instead")
        own = train.optim_for(owners[0]).model_dump()
        parts[owners[0]][key] = ModuleOptim(**{**own, **entry.model_dump(exclude_none=True)})
    return parts


def param_groups(module: nn.Module, base: ModuleOptim, parts: dict[str, ModuleOptim], keep_frozen: bool) -> list[dict]:
    """timm's weight-decay groups (none on biases and 1-d tensors, nor on the model's `no_weight_decay()`),
    once for the module's own parameters and once for each part's, with that part's lr and weight decay."""
    from fnmatch import fnmatch

    no_decay = set(getattr(module, "no_weight_decay", set)())
    longest_first = sorted(parts, key=len, reverse=True)
    buckets: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for pname, p in module.named_parameters():
        if not (p.requires_grad or keep_frozen):
            continue
        part = next((k for k in longest_first if pname == k or pname.startswith(k + ".")), "")
        decays = not (p.ndim <= 1 or pname.endswith(".bias") or any(fnmatch(pname, pat) for pat in no_decay))
        buckets.setdefault((part, decays), []).append(p)
    groups = []
    for part in ["", *parts]:
        o = parts.get(part, base)
        for decays in (False, True):
            if (part, decays) in buckets:
                group = {"params": buckets[part, decays], "lr": o.lr, "weight_decay": o.weight_decay if decays else 0.0}
                if part:
                    group["zoo_part"] = part
                    if base.optimizer in ("momentum", "nesterov", "rmsprop"):
                        group["momentum"] = o.momentum
                    if o.betas is not None and base.optimizer in ("adam", "adamw"):
                        group["betas"] = o.betas
                groups.append(group)
    return groups


def build_scheduler(train: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    """A timm schedule stepped every update (`step_update(step)`); None for a constant lr."""
    from timm.scheduler import create_scheduler_v2

    if train.scheduler == "none":
        return None
    peak = min(g["lr"] for g in optimizer.param_groups)  # this module's own lr (train.optim.<module>.lr) or a part's
    try:
        sched, _ = create_scheduler_v2(
            optimizer, sched=train.scheduler, num_epochs=train.epochs, warmup_epochs=train.warmup_epochs,
            warmup_lr=peak * 0.01, min_lr=train.min_lr, decay_epochs=train.decay_epochs,
            decay_milestones=train.decay_milestones, decay_rate=train.decay_rate,
            step_on_epochs=False, updates_per_epoch=steps_per_epoch)
    except ValueError as err:  # timm checks the schedule's shape (e.g. wsd's decay length)
        raise ConfigError(f"train.scheduler={train.scheduler}: {err}") from None
    return sched


def freeze(model: nn.Module, names: list[str]) -> list[str]:
    """Fix the parameters of the named submodules; returns the frozen parameter names."""
    children = dict(model.named_modules())
    unknown = [n for n in names if n not in children]
    if unknown:
        tops = ", ".join(n for n, _ in model.named_children())
        raise ConfigError(f"--freeze {','.join(unknown)}: no such module in {model.zoo_name} (top-level modules: {tops})")
    frozen = []
    for name in names:
        for pname, p in children[name].named_parameters(prefix=name):
            p.requires_grad_(False)
            frozen.append(pname)
    return frozen


def labelled_subset(data: dict[str, torch.Tensor], per_class: int, seed: int) -> dict[str, torch.Tensor]:
    """`per_class` examples of every class, drawn with `seed`, in their original order."""
    keep = labelled_indices(data["labels"], per_class, seed)
    return {k: v[keep] for k, v in data.items()}


def labelled_indices(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Positions of `per_class` examples of every class, drawn with `seed`, sorted."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    picked = []
    for c in labels.unique().tolist():
        of_class = order[labels[order] == c][:per_class]
        if len(of_class) < per_class:
            raise ConfigError(f"train.labels_per_class={per_class}: class {c} has only {len(of_class)} training examples")
        picked.append(of_class)
    return torch.cat(picked).sort().values


def shared_modules(model: nn.Module, tensors: dict[str, torch.Tensor]) -> list[str]:
    """Top-level modules of `model` whose every tensor is in `tensors` under the same name and shape."""
    shared = []
    for name, child in model.named_children():
        own = {f"{name}.{k}": v.shape for k, v in child.state_dict().items()}
        if own and all(k in tensors and tensors[k].shape == shape for k, shape in own.items()):
            shared.append(name)
    return shared


def save_weights_file(model: nn.Module, path: Path, extra: dict[str, str]) -> None:
    """Model weights as a lone zoo .safetensors (metadata names model and config, so `--weights FILE` works)."""
    from zoo.weights.bundle import META_CONFIG, META_HASH, META_MODEL, config_dict
    from zoo.weights.card import config_hash
    from zoo.weights.safefile import save_tensors

    cfg = config_dict(model.zoo_config)
    meta = {META_MODEL: model.zoo_name, META_HASH: config_hash(cfg), META_CONFIG: json.dumps(cfg), **extra}
    save_tensors(ckpt.unshared(model.state_dict()), path, meta)


def weights_finite(model: nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


class Trainer:
    """Trains one run: `Trainer(config, run_dir).fit()`."""

    loader: torch.utils.data.DataLoader | None = None  # the streaming path's, made on first use
    _finite_at: int = -1  # the step at which the losses were last checked (`_check_finite`)
    _sums_of: dict[str, float] | None = None  # the `progress.sums` that `_sums` continues on the device

    def __init__(self, config: RunConfig, run: RunDir, *, resume: bool = False, quiet: bool = False,
                 command: str = "", locked: bool = False, sinks: list[Any] = ()) -> None:
        """`locked`: the caller holds the run directory's lock (else the trainer makes the directory, locked).
        `sinks`: more receivers of every metrics record (`zoo.engine.loggers.Loggers`), e.g. a sweep's pruner."""
        self.config, self.train, self.run, self.resume, self.command = config, config.train, run, resume, command
        self.locked, self.sinks = locked, list(sinks)
        self.dist = distributed.from_env()
        self.device = distributed.pick_device(self.train.device, self.dist)
        self.display = Display(quiet, enabled=self.dist.main)
        self.log: Loggers | None = None
        self.lock: RunLock | None = None  # the lock of a directory this trainer made
        self.frozen_modules = list(self.train.freeze)  # until train.unfreeze_at
        self.missing: set[str] = set()  # optional packages already warned about

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        from zoo.api import build, resolve
        from zoo.tasks import task_class

        check_available(self.train.loggers)
        torch.set_num_threads(self.train.threads or max(1, (os.cpu_count() or 1) // self.dist.local_world))
        distributed.init(self.dist, self.device)
        spec, _ = resolve(self.config.model.name)
        torch.manual_seed(self.train.seed)
        model = build(spec, self.config.model.config)
        if self.train.init_from:
            self._init_from(model)
        frozen = freeze(model, self.train.freeze)
        if frozen:
            self.display.say(f"frozen: {', '.join(self.train.freeze)} ({len(frozen)} tensors)")
        self.model = model.to(self.device)
        if self.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.task = task_class(spec.entry.task)(self.model, self.config, self.device)
        data = self.config.data
        self.train_data = self._training_data()
        self.eval_split = "val" if data.val_size else "test"
        self.eval_data = self.task.load_split(self.eval_split, self.train.max_eval_examples)
        self.steps_per_epoch = self._steps_per_epoch()
        self.modules = self.task.modules()
        parts = optim_parts(self.train, self.modules)
        self.optimizers = {n: build_optimizer(self.train, m, n, parts[n]) for n, m in self.modules.items()}
        self.schedulers = {n: build_scheduler(self.train, o, self.steps_per_epoch) for n, o in self.optimizers.items()}
        self.progress = self._restore() if self.resume else Progress()
        self.wrapped = {n: self._wrap(m) for n, m in self.modules.items()}
        self._unfreeze_when_due()  # a run resumed in its second phase
        self.stepper = Stepper(self.optimizers, self.modules, self.train.grad_clip, self.dist, self.precision, self.scalers)

    def _init_from(self, model: nn.Module) -> None:
        """Transfer: the weights of a bundle, a tag, hf://, or a torchvision/timm checkpoint (by zoo names), a fresh
        head where the class count differs; or, from another zoo model, its modules this one shares."""
        from zoo.weights.bundle import read_transfer_weights
        from zoo.weights.fit import load_into

        source = self.train.init_from
        weights = read_transfer_weights(source)
        if weights.model is None or weights.model == model.zoo_name:
            fit = load_into(model, weights.tensors, source=source, adapt_head=True)
            head = f" (a fresh head: {', '.join(sorted(fit.head))})" if fit.head else ""
            self.display.say(f"initialised from {source}{head}")
            return
        shared = shared_modules(model, weights.tensors)  # another model: e.g. an autoencoder's encoder under a classifier
        if not shared:
            tops = ", ".join(n for n, _ in model.named_children())
            raise ConfigError(f"--init-from {self.train.init_from}: it holds {weights.model}, which has no module of "
                              f"{model.zoo_name} by name and shape (its modules: {tops})")
        model.load_state_dict({k: v for k, v in weights.tensors.items() if k.split(".")[0] in shared}, strict=False)
        self.display.say(f"initialised {', '.join(shared)} from {self.train.init_from} ({weights.model})")

    def _training_data(self) -> dict[str, torch.Tensor] | StreamedSplit:
        """The training split: tensors in memory, or a split the DataLoader streams (the task decides)."""
        data = self.task.load_split("train", self.train.max_train_examples)
        if isinstance(data, StreamedSplit):
            if self.train.labels_per_class:
                data = data.subset(labelled_indices(data.labels, self.train.labels_per_class, self.train.seed))
            self.display.say(f"streaming {data.name}: {len(data)} training images read by "
                             f"{loader_workers(self.config.data)} DataLoader worker(s) per process")
        elif self.train.labels_per_class:
            data = labelled_subset(data, self.train.labels_per_class, self.train.seed)
        d = self.config.data
        if (d.mixup or d.cutmix) and not getattr(self.task, "mixes_labels", False):
            raise ConfigError(f"data.mixup and data.cutmix mix labels: only classifiers train on them, not "
                              f"{type(self.task).__name__}")
        return data

    @property
    def n_train(self) -> int:
        if isinstance(self.train_data, StreamedSplit):
            return len(self.train_data)
        return len(next(iter(self.train_data.values())))

    def _steps_per_epoch(self) -> int:
        """Steps per epoch; sets `batch_size`, the recipe's unless the training split is smaller."""
        n, b, w = self.n_train, self.train.batch_size, self.dist.world
        if b % w:
            raise ConfigError(f"train.batch_size={b} must be divisible by the number of processes ({w})")
        if n < b:
            b = n - n % w  # every process takes an equal part
            if b == 0:
                raise ConfigError(f"the training split ({n} examples) is smaller than the number of processes ({w})")
            self.display.say(f"the training split has {n} examples, fewer than train.batch_size="
                             f"{self.train.batch_size}: every step trains on {b} of them, the whole split as one batch")
        d = self.config.data
        if (d.mixup or d.cutmix) and (b // w) % 2:
            raise ConfigError(f"data.mixup/cutmix mix each batch with itself reversed: the batch per process "
                              f"({b // w}) must be even")
        self.batch_size = b
        return n // b  # the last partial batch is dropped: every step sees a full batch

    def _batches(self) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """(batch number, batch) of the current epoch from the batch it stands at: slices of the split in
        memory, or what the DataLoader's workers read in the same order; flip-crop on the images."""
        p, b = self.progress, self.batch_size
        if isinstance(self.train_data, StreamedSplit):
            loader = self._loader()
            loader.sampler.set_epoch(p.epoch)
            loader.sampler.set_start(p.batch)
            batches: Iterator[tuple[int, dict[str, torch.Tensor]]] = enumerate(loader, start=p.batch)
        else:
            order = epoch_order(self.n_train, self.train.seed, p.epoch)
            batches = ((i, self._slice(order[i * b:(i + 1) * b])) for i in range(p.batch, self.steps_per_epoch))
        for i, batch in batches:
            if self.config.data.augment == "flip-crop":
                params = flip_crop_params(b, batch_generator(self.train.seed, p.epoch, i))
                batch["images"] = flip_crop(batch["images"], distributed.shard(params, self.dist))
            yield i, batch

    def _slice(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = distributed.shard(indices, self.dist)
        return {k: v[idx] for k, v in self.train_data.items()}

    def _loader(self) -> torch.utils.data.DataLoader:
        """The training DataLoader (made once: its workers persist across epochs)."""
        if self.loader is None:
            sampler = EpochSampler(self.n_train, self.batch_size, self.train.seed, self.dist)
            self.loader = make_loader(self.train_data.dataset(train=True), self.batch_size // self.dist.world,
                                      loader_workers(self.config.data), self.device.type == "cuda", sampler)
        return self.loader

    def _close_loaders(self) -> None:
        """End the DataLoader worker processes (training and streamed evaluation splits)."""
        self.loader = None
        for data in (getattr(self, "train_data", None), getattr(self, "eval_data", None)):
            if isinstance(data, StreamedSplit):
                data.close()

    @cached_property
    def precision(self) -> Precision:
        precision = Precision(self.train.precision, self.device)
        if precision.name == "fp16" and self.device.type == "cpu":
            self.display.say("note: train.precision=fp16 runs on a CPU, but many times slower than fp32 (CPUs lack most "
                             "float16 kernels); bf16 is the CPU's mixed precision")
        return precision

    @cached_property
    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        """fp16: one GradScaler per optimizer (their state is in every checkpoint); none otherwise."""
        return self.precision.scalers(list(self.optimizers))

    def _wrap(self, module: nn.Module) -> nn.Module:
        """What the task steps: the module, in DDP when distributed, then under torch.compile with train.compile
        (torch compiles DDP's bucketed gradients best this way round)."""
        wrapped = module
        if self.dist.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        if self.train.compile:
            name = next(n for n, m in self.modules.items() if m is module)
            wrapped = Compiled(wrapped, name, self.train.compile_mode)
        return wrapped

    def _restore(self) -> Progress:
        if not (self.run / CHECKPOINT).is_file():  # stopped before its first checkpoint: it starts again, as it began
            if self.dist.main:
                self.run.rewind_metrics(0, 0)
            self.display.say(f"resuming {self.run.path} from the start (it stopped before its first checkpoint)")
            return Progress()
        tensors, doc = ckpt.read_checkpoint(self.run / CHECKPOINT)
        state = ckpt.restore(tensors, doc, self.model, self.optimizers, self.schedulers, self.run / CHECKPOINT,
                             scalers=self.scalers)
        progress = Progress(**state)
        if self.dist.main:
            self.run.rewind_metrics(progress.step, progress.epoch)
        self.display.say(f"resuming {self.run.path} at epoch {progress.epoch + 1}, step {progress.step}")
        return progress

    # ------------------------------------------------------------------ loop

    def fit(self) -> dict[str, Any]:
        """Train to the end (or early stop); returns the final evaluation."""
        try:
            self.setup()
            if self.dist.main:
                self._open_run_dir()
            try:
                self._epochs()
            except NonFiniteLoss as err:
                raise TrainingDiverged(self._diverged_message(err)) from None
            return self._finish()
        finally:
            self._close_loaders()
            self.display.close()
            if self.log:
                self.log.close()
            if self.lock:
                self.lock.release()
            distributed.shutdown(self.dist)

    def _open_run_dir(self) -> None:
        """Written only once setup succeeded, so bad input leaves no directory (or an untouched one). A new
        directory appears whole, config.yaml in it (`RunDir.create`); in one that exists, config.yaml is
        replaced atomically. Either way a kill from here on leaves a run that --resume continues."""
        from zoo.engine.config import to_yaml
        from zoo.engine.rundir import CONFIG

        text = to_yaml(self.config)
        if not self.run.path.exists():
            self.lock = self.run.create(text, self.command)
        else:
            if not self.locked:  # it appeared while this run set up: take it only if it is free and holds nothing
                self.lock = RunLock(self.run.path).acquire(self.command)
                if self.run.has_files() and not self.resume:
                    raise RunDirError(f"{self.run.path} appeared while this run was starting; use another --out")
            self.run.write_text(CONFIG, text)
        self.log = Loggers(self.run, self.config, resume=self.resume, step=self.progress.step, extra=self.sinks)

    def _epochs(self) -> None:
        p = self.progress
        while p.epoch < self.train.epochs and not p.stopped_early:
            self._unfreeze_when_due()
            self._train_epoch()
            p.epoch, p.batch = p.epoch + 1, 0
            record = self._end_epoch()
            self.display.end_epoch(record)

    def _train_epoch(self) -> None:
        p, train = self.progress, self.train
        for m in self.modules.values():
            m.train()
        for name in self.frozen_modules:  # frozen parts stay in eval mode: batch-norm statistics and dropout fixed too
            self.model.get_submodule(name).eval()
        self.display.start_epoch(p.epoch, train.epochs, self.steps_per_epoch, p.batch)
        start, seen = time.perf_counter(), 0
        for b, batch in self._batches():
            self.task.epoch_progress = p.epoch + b / self.steps_per_epoch
            metrics = self._train_step(batch)
            p.step, p.batch = p.step + 1, b + 1
            for sched in self.schedulers.values():
                if sched is not None:
                    sched.step_update(p.step)
            self._accumulate(metrics)
            seen += self.batch_size
            last = p.batch == self.steps_per_epoch
            if p.step % train.log_every == 0 or last:
                self._log_step(metrics, seen / (time.perf_counter() - start))
            elif p.batch % DISPLAY_EVERY == 0:
                self.display.update(p.batch, {k: float(v) for k, v in metrics.items()}, seen / (time.perf_counter() - start))
            if train.checkpoint_every and p.step % train.checkpoint_every == 0 and p.batch < self.steps_per_epoch:
                self._checkpoint()

    def _unfreeze_when_due(self) -> None:
        """The second phase of `train.unfreeze_at`: from that epoch on the frozen modules train too, and every
        learning rate is `unfreeze_lr_factor` times the schedule's (timm's per-group `lr_scale`). A function of
        the epoch alone, so a run resumed in either phase continues as it would have."""
        at, p = self.train.unfreeze_at, self.progress
        if at is None or p.epoch < at or not self.frozen_modules:
            return
        for name in self.frozen_modules:
            self.model.get_submodule(name).requires_grad_(True)
        factor = self.train.unfreeze_lr_factor
        for name, opt in self.optimizers.items():
            sched = self.schedulers[name]
            for group in opt.param_groups:
                group["lr_scale"] = factor
                if sched is None:  # a constant lr: scale the group's own, once
                    group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
            if sched is not None:
                sched.step_update(p.step)  # this step's lr again, now scaled
        self.display.say(f"epoch {p.epoch + 1}: {', '.join(self.frozen_modules)} unfrozen; every learning rate x {factor:g}")
        self.frozen_modules = []
        self.wrapped = {n: self._wrap(m) for n, m in self.modules.items()}  # DDP registers only trainable parameters

    def _train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The task's step on `batch` under the run's precision. An error out of a step taken after a non-finite
        loss (weights gone NaN failing a distribution's argument check, say) is reported as that divergence; one
        out of torch.compile's machinery in a backward pass, as the compile failure it is."""
        self.stepper.at_step = self.progress.step + 1
        try:
            with self.precision.step():
                return self.task.train_step(batch, self.wrapped, self.stepper)
        except CompileError:
            raise
        except Exception as err:
            if self.train.compile and compile_failure(err):
                raise CompileError(f"train.compile: torch.compile failed in a backward pass of "
                                   f"{', '.join(self.modules)}: {first_line(err)}") from None
            diverged = self.stepper.first_non_finite()
            if diverged is not None:
                raise diverged from None
            raise

    def _check_finite(self) -> None:
        """The boundary check (log points, checkpoints): stop with NonFiniteLoss if any loss of this process's
        steps so far was NaN or infinite, naming the first. Reads the device once, at most once per step."""
        if self._finite_at == self.progress.step:
            return
        self._finite_at = self.progress.step
        diverged = self.stepper.first_non_finite()
        if diverged is not None:
            raise diverged

    def _accumulate(self, metrics: dict[str, torch.Tensor]) -> None:
        """Each metric added to its epoch sum on the device, in float64 (as the float sums were: the same numbers
        bit for bit), read into `progress.sums` only by `_settle`; nothing here waits for the device."""
        p = self.progress
        if self._sums_of is not p.sums:  # an epoch's end or a restore replaced the sums: continue from those
            self._sums = {k: torch.tensor(v, dtype=torch.float64, device=self.device) for k, v in p.sums.items()}
            self._sums_of = p.sums
        for k, v in metrics.items():
            v = torch.as_tensor(v).detach()
            if k not in self._sums:
                self._sums[k] = torch.zeros((), dtype=torch.float64, device=v.device)
            self._sums[k] += v.to(torch.float64)
        p.batches += 1

    def _settle(self) -> None:
        """The device sums read into `progress.sums` (at log points and checkpoints, which an epoch's end follows)."""
        p = self.progress
        if self._sums_of is p.sums:
            p.sums = {k: float(v) for k, v in self._sums.items()}
            self._sums_of = p.sums

    def _log_step(self, metrics: dict[str, torch.Tensor], rate: float) -> None:
        p = self.progress
        self._check_finite()
        self._settle()
        values = {k: float(v) for k, v in metrics.items()}
        self.display.update(p.batch, values, rate)
        if self.log:
            lr = next(iter(self.optimizers.values())).param_groups[0]["lr"]
            self.log.write({"kind": "step", "step": p.step, "epoch": p.epoch, **values, "lr": lr,
                            "images_per_s": round(rate, 1)})

    def _end_epoch(self) -> dict[str, Any]:
        p, train = self.progress, self.train
        sums = distributed.mean_over_ranks(p.sums, self.dist)
        record = {"kind": "epoch", "epoch": p.epoch - 1, "step": p.step,
                  **{f"train_{k}": v / max(p.batches, 1) for k, v in sums.items()}}
        p.sums, p.batches = {}, 0
        if p.epoch % train.eval_every == 0 or p.epoch == train.epochs:
            record.update(self._evaluate())
            pictures = getattr(self.task, "epoch_pictures", None)  # generative tasks: reconstruction and sample grids
            if self.dist.main and callable(pictures):
                self._optional("epoch pictures", lambda: pictures(self.run.path, p.epoch, self.eval_data))
        if self.log:
            self.log.pictures(p.step)
            self.log.write(record)
        if self.dist.main:
            save_weights_file(self.model, self.run / LAST, {"zoo_epoch": str(p.epoch)})
            self._checkpoint()
        return record

    def _evaluate(self) -> dict[str, float]:
        p, task = self.progress, self.task
        for m in self.modules.values():
            m.eval()
        result = {f"eval_{k}": v for k, v in task.evaluate(self.eval_data).items()}
        if self.log:
            self.log.write({"kind": "eval", "epoch": p.epoch - 1, "step": p.step, "split": self.eval_split, **result})
        for message in getattr(task, "pop_warnings", list)():  # e.g. a GAN's mode collapse
            self.display.say(f"warning: {message}")
            if self.log:
                self.log.write({"kind": "warning", "epoch": p.epoch - 1, "step": p.step, "message": message})
        value = result[f"eval_{task.main_metric}"]
        better = p.best is None or (value > p.best if task.maximize else value < p.best)
        if better:
            p.best, p.best_epoch, p.stale = value, p.epoch, 0
            if self.dist.main:
                save_weights_file(self.model, self.run / BEST, {"zoo_epoch": str(p.epoch)})
        else:
            p.stale += 1
            if self.train.early_stop and p.stale >= self.train.early_stop:
                p.stopped_early = True
                self.display.say(f"early stop: no better eval {task.main_metric} for {p.stale} evaluations "
                                 f"(best {p.best:.4g} after epoch {p.best_epoch})")
        return result

    def _checkpoint(self) -> None:
        self._check_finite()  # every process (mid-epoch); at an epoch's end the last step's log point did it
        if not self.dist.main or not weights_finite(self.model):
            return  # a step with a finite loss can still leave non-finite weights; keep the last good file
        self._settle()
        ckpt.save_checkpoint(self.run / CHECKPOINT, self.model, self.optimizers, self.schedulers, asdict(self.progress),
                             scalers=self.scalers)

    def _diverged_message(self, err: NonFiniteLoss) -> str:
        p = self.progress
        kept = "no checkpoint was written yet"
        if (self.run / CHECKPOINT).is_file():
            _, doc = ckpt.read_checkpoint(self.run / CHECKPOINT)
            kept = f"last good checkpoint (step {doc['state']['step']}) kept in {self.run.path}"
        step = err.step or p.step + 1  # where the loss first went non-finite (found at the next boundary)
        return (f"training diverged: {err} at step {step} (epoch {(step - 1) // self.steps_per_epoch + 1}); stopped, "
                f"{kept}; try a lower --lr or --grad-clip")

    # ------------------------------------------------------------------ end

    def _finish(self) -> dict[str, Any]:
        """The weights that ship (the last, or the best after an early stop) measured on the test split, read
        here for the first time (it chose nothing); then the bundle; then what is optional (curves), rank 0."""
        p = self.progress
        if p.stopped_early and (self.run / BEST).is_file():
            from zoo.weights.safefile import load_tensors

            self.model.load_state_dict(load_tensors(self.run / BEST)[1])
        for m in self.modules.values():
            m.eval()
        test = self.eval_data if self.eval_split == "test" else \
            self.task.load_held_split("test", self.train.max_eval_examples)
        try:
            with kept(self.model):  # reporting changes nothing that ships (an autoencoder's evaluate refits its prior)
                final = {f"eval_{k}": v for k, v in self.task.evaluate(test).items()}
            self.reported = examples(test)
        finally:
            if test is not self.eval_data and callable(getattr(test, "close", None)):
                test.close()  # a streamed split's DataLoader workers
        if self.dist.main:
            self._bundle(final)
            self.log.write({"kind": "end", "epoch": p.epoch - 1, "step": p.step, "split": "test", **final})
            # a task may draw its own curves (a GAN: both players)
            self._optional("curves.png", lambda: getattr(self.task, "plot_curves", plot_curves)(self.run))
            self.log.finish(final, p.step)
            chosen = "" if self.eval_split == "test" else f" (weights chosen on {self.eval_split})"
            self.display.say("done: test " + ", ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in final.items())
                             + f"{chosen}; bundle in {self.run / BUNDLE}")
        return final

    def _optional(self, what: str, draw: Callable[[], Any]) -> None:
        """Curves and pictures are extras: without the package that draws them the run goes on, warned once."""
        try:
            draw()
        except ImportError as err:
            missing = (err.name or str(err)).split(".")[0]
            if missing not in self.missing:
                self.missing.add(missing)
                how = f'pip install "zoo[{EXTRAS[missing]}]"' if missing in EXTRAS else f"pip install {missing}"
                self.display.say(f"warning: {what} not drawn: {missing} is not installed ({how}); "
                                 "training and the bundle do not need it")

    def _bundle(self, final: dict[str, float]) -> None:
        from zoo.weights.bundle import save_pretrained

        card = self.task.card()
        metrics = {f"test_{k.removeprefix('eval_')}": v for k, v in final.items()}
        evaluation = {"chosen_on": self.eval_split, "chosen_examples": examples(self.eval_data),
                      "reported_on": "test", "reported_examples": self.reported,
                      "val_size": str(self.config.data.val_size)}
        save_pretrained(self.model, self.run / BUNDLE, data=card.get("data", ""), preprocessing=card.get("preprocessing"),
                        metrics=metrics, command=self.command, overwrite=True, evaluation=evaluation,
                        notes=" ".join(filter(None, [card.get("notes"), f"Trained for {self.progress.epoch} epochs "
                                                     f"({self.progress.step} steps); run config in ../config.yaml."])))


def examples(data: Any) -> int:
    """The number of examples of a split: tensors in memory (a dict), or a streamed split."""
    return len(next(iter(data.values()))) if isinstance(data, dict) else len(data)


@contextmanager
def kept(model: nn.Module) -> Iterator[None]:
    """Whatever the block changes in `model`'s state (parameters and buffers) is put back after it."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        yield
    finally:
        model.load_state_dict(saved)
