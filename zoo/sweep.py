"""`zoo sweep`: hyperparameter search on Optuna, every trial a real run.

    zoo sweep lenet5 --data mnist --space space.yaml --trials 20 --metric val_accuracy --out sweeps/lenet5 --epochs 2

The space file maps config keys (what `--set` takes) to a distribution or a grid:

    train.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
    train.weight_decay: {type: float, low: 0.0, high: 0.1}
    train.batch_size: {type: categorical, choices: [64, 128, 256]}
    model.width: {type: int, low: 8, high: 32, step: 8}
    train.label_smoothing: {grid: [0.0, 0.1]}

Each trial is `zoo.engine.runs.train_run` on the sweep's fixed part (the model, `--data`, every training flag
and `--set` of the command) plus the trial's values, in `SWEEP_DIR/trials/trial-NNNN/`: a run like any other
(config.yaml, metrics.jsonl, bundle). Its per-epoch evaluation on the validation split feeds the pruner (a sink
on the run's metrics records, `Report`); its objective is the validation metric of the weights it ships (the last
evaluation, or the best one after an early stop). The test split is only reported, beside it.

The study lives in Optuna storage: `sqlite:///SWEEP_DIR/study.db` unless `--storage URL` names another (a
PostgreSQL or MySQL URL shares one study between machines, with the same `--study NAME`). `--trials N` is the
study's size, not this process's share: each process claims a trial before it runs one, and one whose claim is
past the N-th (two processes asking at the same moment) gives it up unrun, so the processes sharing a study run
exactly N between them. A trial whose process died (SIGKILL, a power cut) is found RUNNING by the next sweep on
that host and marked failed ("interrupted"); it does not count towards N, so running the same command again
finishes the study without running any trial twice.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zoo.engine.loggers import Sink
from zoo.errors import ConfigError, ZooError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
WORKER_ENV = "ZOO_SWEEP_WORKER"  # set in the processes `--jobs` starts: they run trials and report nothing
INTERRUPTED = "interrupted"  # reason of a trial whose process died; such trials do not count towards --trials
SURPLUS = "surplus"  # reason of a claim past the N-th, given up unrun


class SpaceError(ConfigError):
    """A space file that cannot be searched."""


# ------------------------------------------------------------------ the space file


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FloatParam(_Param):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self


class IntParam(_Param):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("log and step cannot be combined")
        return self


Choice = bool | int | float | str | None


class CategoricalParam(_Param):
    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1)


class GridParam(_Param):
    grid: list[Choice] = Field(min_length=1)


Param = FloatParam | IntParam | CategoricalParam | GridParam


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"log needs a positive range, got low {low}")


def choices(param: Param) -> list[Choice] | None:
    """The values of a categorical or grid parameter (None for a range)."""
    return param.choices if isinstance(param, CategoricalParam) else param.grid if isinstance(param, GridParam) else None


def read_space(path: Path) -> dict[str, Param]:
    """The parameters of a space file, each checked; a bad one is one line naming the key and what is wrong."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise SpaceError(f"space file {path} is not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(doc, dict) or not doc:
        raise SpaceError(f"space file {path} must map config keys (train.lr, model.width, ...) to distributions")
    space = {}
    for key, spec in doc.items():
        if not isinstance(spec, dict):
            raise SpaceError(f"space file {path}: {key} must be a mapping such as {{type: float, low: 0.001, high: 0.1, "
                             f"log: true}} or {{grid: [a, b]}}, not {spec!r}")
        kind = "grid" if "grid" in spec and "type" not in spec else spec.get("type")
        cls = {"float": FloatParam, "int": IntParam, "categorical": CategoricalParam, "grid": GridParam}.get(kind)
        if cls is None:
            raise SpaceError(f"space file {path}: {key}: type must be float, int or categorical (or give a grid: [...]), "
                             f"not {kind!r}")
        try:
            space[str(key)] = cls.model_validate(spec)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SpaceError(f"space file {path}: {key}{'.' + where if where else ''}: "
                             f"{first['msg'].removeprefix('Value error, ')}") from None
    return space


def check_keys(space: dict[str, Param], base: Any, path: Path) -> None:
    """Every key names a config field and takes the values the space gives it (each end of a range, every
    choice), as composed for a run: `--set KEY=VALUE` on the sweep's fixed part."""
    from zoo.engine.runs import compose_request

    for key, param in space.items():
        values = choices(param) or [param.low, param.high]
        for value in values:
            try:
                compose_request(replace(base, sets=[*base.sets, f"{key}={json.dumps(value)}"], out=None))
            except ConfigError as err:
                raise SpaceError(f"space file {path}: {key}={value!r}: {err}") from None


def suggest(trial: Any, key: str, param: Param) -> Any:
    if isinstance(param, FloatParam):
        return trial.suggest_float(key, param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return trial.suggest_int(key, param.low, param.high, log=param.log, step=param.step)
    return trial.suggest_categorical(key, choices(param))


# ------------------------------------------------------------------ the request


@dataclass
class SweepRequest:
    base: Any  # zoo.engine.runs.RunRequest: the fixed part of every trial
    space_file: Path
    out: Path
    trials: int = 20
    metric: str | None = None  # val_<name> of the task's evaluation; default val_<main metric>
    direction: str | None = None  # maximize | minimize; default the task's own for its main metric
    sampler: str = "tpe"
    pruner: str = "median"
    startup_trials: int = 5  # trials the pruner lets finish before it compares
    storage: str | None = None
    study: str | None = None
    jobs: int = 1
    seed: int = 0  # the sampler's
    argv: list[str] = field(default_factory=list)  # the command line, for the processes --jobs starts


@dataclass
class Objective:
    split: str
    name: str
    direction: str

    @property
    def key(self) -> str:
        return f"eval_{self.name}"

    @property
    def label(self) -> str:
        return f"{self.split}_{self.name}"


class MetricMissing(ConfigError):
    """The metric the sweep optimises is not in the task's evaluation: no trial could report it."""


class Report(Sink):
    """A trial's sink on its run's records: each evaluation's metric to Optuna (for the pruner), and a stop
    (optuna.TrialPruned, out of the trainer) when the pruner says so."""

    def __init__(self, trial: Any, objective: Objective) -> None:
        self.trial, self.objective = trial, objective

    def write(self, record: dict[str, Any]) -> None:
        import optuna

        if record.get("kind") != "eval":
            return
        value = record.get(self.objective.key)
        if value is None:
            known = ", ".join(f"{record.get('split')}_{k.removeprefix('eval_')}" for k in record if k.startswith("eval_"))
            raise MetricMissing(f"--metric {self.objective.label}: the evaluation has no such metric (it reports: {known})")
        self.trial.report(float(value), int(record["epoch"]))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {record['epoch'] + 1} ({self.objective.label} {value:.4g})")


# ------------------------------------------------------------------ the study


def objective_of(base_config: Any, metric: str | None, direction: str | None) -> Objective:
    from zoo.names import resolve
    from zoo.tasks import task_class

    task = task_class(resolve(base_config.model.name)[0].entry.task)
    eval_split = "val" if base_config.data.val_size else "test"
    metric = metric or f"{eval_split}_{task.main_metric}"
    split, _, name = metric.partition("_")
    if split not in ("val", "test") or not name:
        raise ConfigError(f"--metric {metric}: name a validation metric, e.g. val_{task.main_metric}")
    if split == "test":
        raise ConfigError(f"--metric {metric}: the test split only reports; a sweep chooses on val (val_{name}), "
                          "unless data.val_size=0 leaves it none")
    if split != eval_split:
        raise ConfigError(f"--metric {metric}: data.val_size=0 leaves no validation split to choose on")
    if direction is None:
        if name != task.main_metric:
            raise ConfigError(f"--metric {metric}: give --direction maximize or minimize (the task's own direction "
                              f"is known only for its main metric, {task.main_metric})")
        direction = "maximize" if task.maximize else "minimize"
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"--direction {direction}: maximize or minimize")
    return Objective(split, name, direction)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An flock around a SQLite study's set-up, so processes starting together do not race to make its tables."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def open_study(req: SweepRequest, objective: Objective, setup: dict[str, Any]) -> Any:
    """The study (made, or loaded to continue), after checking it is this sweep's."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = req.storage or default_storage(req.out)
    name = req.study or req.out.resolve().name
    sqlite = url.startswith("sqlite:///")
    kwargs = {"connect_args": {"timeout": 120}} if sqlite else {}
    lock = _file_lock(Path(url.removeprefix("sqlite:///") + ".lock")) if sqlite else _nothing()
    try:
        with lock:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            study = optuna.create_study(storage=storage, study_name=name, direction=objective.direction,
                                        sampler=_sampler(req, setup), pruner=_pruner(req), load_if_exists=True)
            saved = study.user_attrs.get("zoo")
            if saved is None:
                study.set_user_attr("zoo", setup)
    except ImportError:
        raise
    except Exception as err:
        if isinstance(err, ZooError):
            raise
        raise ZooError(f"--storage {url}: {' '.join(str(err).split())[:300]}") from None
    if saved is not None:
        _same_sweep(saved, setup, name)
    return study


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _same_sweep(saved: dict[str, Any], asked: dict[str, Any], name: str) -> None:
    """A study continues only under the sweep that began it: same model, fixed config, space and objective."""
    from zoo.engine.config import RunConfig, differences

    changed = [f"{k} {saved.get(k)!r} -> {asked[k]!r}" for k in ("space", "metric", "direction") if saved.get(k) != asked[k]]
    changed += differences(RunConfig.model_validate(saved["config"]), RunConfig.model_validate(asked["config"]))
    changed = [c for c in changed if not c.startswith("train.threads ")]  # --jobs splits the threads anew
    if changed:
        raise ZooError(f"study {name} was begun by another sweep; it differs in {'; '.join(changed)[:600]} "
                       "(use another --out or --study)")


def _sampler(req: SweepRequest, setup: dict[str, Any]) -> Any:
    import optuna

    if req.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=req.seed, constant_liar=True)  # lies for running trials: parallel-safe
    if req.sampler == "random":
        return optuna.samplers.RandomSampler(seed=req.seed)
    return _grid_sampler()(grid_of(setup["space"]), seed=req.seed)


def _grid_sampler() -> type:
    """Optuna's GridSampler without its `study.stop()` once the grid is covered: that works only inside
    `study.optimize`, and this sweep, which asks and tells, stops at the grid's size itself."""
    import optuna

    class Grid(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return Grid


def grid_of(space: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: p.get("grid", p.get("choices")) for k, p in space.items()}


def _pruner(req: SweepRequest) -> Any:
    import optuna

    if req.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=req.startup_trials, n_warmup_steps=0)
    if req.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


# ------------------------------------------------------------------ running trials


def prepare(req: SweepRequest) -> tuple[dict[str, Param], Objective, dict[str, Any]]:
    """The space, objective and the study's identity, all checked before anything is written."""
    import importlib.util

    from zoo.engine.config import to_yaml
    from zoo.engine.runs import compose_request

    if importlib.util.find_spec("optuna") is None:
        raise ConfigError('zoo sweep needs the optuna package, which is not installed (pip install "zoo[sweep]")')
    if req.sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {req.sampler}: one of {', '.join(SAMPLERS)}")
    if req.pruner not in PRUNERS:
        raise ConfigError(f"--pruner {req.pruner}: one of {', '.join(PRUNERS)}")
    if req.trials < 1 or req.jobs < 1:
        raise ConfigError("--trials and --jobs must be at least 1")
    space = read_space(req.space_file)
    if req.sampler == "grid":
        ranges = [k for k, p in space.items() if choices(p) is None]
        if ranges:
            raise SpaceError(f"space file {req.space_file}: --sampler grid needs every key as a grid or categorical; "
                             f"{', '.join(ranges)} {'is a range' if len(ranges) == 1 else 'are ranges'}")
    base_config, _ = compose_request(replace(req.base, out=None))
    check_keys(space, req.base, req.space_file)
    objective = objective_of(base_config, req.metric, req.direction)
    import yaml

    setup = {"model": base_config.model.name, "config": yaml.safe_load(to_yaml(base_config)),
             "space": {k: p.model_dump(exclude_none=True) for k, p in space.items()},
             "metric": objective.label, "direction": objective.direction}
    return space, objective, setup


def sweep(req: SweepRequest, say: Any = lambda _: None) -> Any:
    """Run the study to `req.trials` trials (in `req.jobs` processes) and return it."""
    space, objective, setup = prepare(req)
    if req.sampler == "grid":
        size = math.prod(len(v) for v in grid_of(setup["space"]).values())
        if req.trials > size:
            say(f"the grid has {size} points: {size} trials, not {req.trials}")
            req = replace(req, trials=size)
    study = open_study(req, objective, setup)
    if req.jobs > 1 and not os.environ.get(WORKER_ENV):
        _run_jobs(req, say)
    else:
        run_trials(req, study, space, objective, say)
    return study


def _run_jobs(req: SweepRequest, say: Any) -> None:
    """`--jobs K`: K processes of this same command on the same study, the CPU threads split between them."""
    threads = req.base.sets and any(s.split("=")[0].split(".")[-1] == "threads" for s in req.base.sets)
    per_job = max(1, (os.cpu_count() or 1) // req.jobs)
    env = {**os.environ, WORKER_ENV: "1"}
    procs = []
    for i in range(req.jobs):
        extra = ["--jobs", "1", "--sampler-seed", str(req.seed + i)] + ([] if threads else ["--set", f"threads={per_job}"])
        procs.append(subprocess.Popen([sys.executable, "-m", "zoo", *req.argv, *extra], env=env,
                                      stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent))
    say(f"{req.jobs} processes on study {req.study or req.out.resolve().name}, {per_job} thread(s) each")
    try:
        codes = [p.wait() for p in procs]
    except BaseException:
        for p in procs:
            p.terminate()
        raise
    failed = [c for c in codes if c not in (0,)]
    if failed:
        raise ZooError(f"{len(failed)} of the --jobs processes exited with {failed[0]}; the study keeps what they ran")


def _die_with_parent() -> None:
    """A --jobs process ends when the sweep that started it is killed (Linux's parent-death signal)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _counts(trial: Any) -> bool:
    """Whether a trial counts towards --trials: it finished (done, pruned, failed on its own) or is running."""
    import optuna

    reason = trial.user_attrs.get("reason", "")
    return not (trial.state == optuna.trial.TrialState.FAIL and (reason.startswith(INTERRUPTED) or reason == SURPLUS)) \
        and trial.state != optuna.trial.TrialState.WAITING


def mark_dead_trials(study: Any, say: Any) -> None:
    """Trials left RUNNING by a process of this host that is gone are marked failed, 'interrupted'."""
    import optuna

    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid, their_host = t.user_attrs.get("pid"), t.user_attrs.get("host")
        unclaimed = pid is None and t.datetime_start is not None and time.time() - t.datetime_start.timestamp() > 60
        if unclaimed or (their_host == host and pid is not None and not _alive(pid)):
            study._storage.set_trial_user_attr(t._trial_id, "reason", f"{INTERRUPTED}: its sweep process {pid} is gone")
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            say(f"trial {t.number} was interrupted (its process {pid} is gone): marked failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def run_trials(req: SweepRequest, study: Any, space: dict[str, Param], objective: Objective, say: Any) -> None:
    """Claim and run trials until the study has `req.trials` of them."""
    import optuna

    while True:
        mark_dead_trials(study, say)  # a sibling process on this host that died meanwhile
        if sum(_counts(t) for t in study.get_trials(deepcopy=False)) >= req.trials:
            return
        trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        ahead = sum(_counts(t) for t in study.get_trials(deepcopy=False) if t.number < trial.number)
        if ahead >= req.trials:  # another process claimed the last one at the same moment
            trial.set_user_attr("reason", SURPLUS)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        run_trial(req, study, trial, space, objective, say)


def run_trial(req: SweepRequest, study: Any, trial: Any, space: dict[str, Param], objective: Objective,
              say: Any) -> None:
    import optuna

    from zoo.engine.runs import train_run

    params = {key: suggest(trial, key, param) for key, param in space.items()}
    out = req.out / "trials" / f"trial-{trial.number:04d}"
    trial.set_user_attr("run", str(out))
    sets = [*req.base.sets, *(f"{k}={json.dumps(v)}" for k, v in params.items())]
    run_req = replace(req.base, sets=sets, out=out, quiet=True, sinks=[Report(trial, objective)],
                      command=f"{req.base.command} {' '.join('--set ' + s for s in sets[len(req.base.sets):])}".strip())
    shown = ", ".join(f"{k.split('.')[-1]} {_short(v)}" for k, v in params.items())
    say(f"trial {trial.number}: {shown}")
    started = time.time()
    try:
        run = train_run(run_req)
    except optuna.TrialPruned as err:
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        trial.set_user_attr("reason", str(err))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        say(f"trial {trial.number}: {err}")
        return
    except (KeyboardInterrupt, MetricMissing):
        _fail(study, trial, INTERRUPTED if not isinstance(sys.exc_info()[1], MetricMissing) else "no such metric", started)
        raise
    except Exception as err:
        reason = str(err) if isinstance(err, ZooError) else f"{type(err).__name__}: {err}"
        reason = " ".join(reason.split())[:500]
        _fail(study, trial, reason, started)
        say(f"trial {trial.number} failed: {reason}")
        return
    value = objective_value(run, objective)
    trial.set_user_attr("seconds", round(time.time() - started, 1))
    for key, v in run.final.items():
        if isinstance(v, (int, float)):
            trial.set_user_attr(f"test_{key}", float(v))
    if value is None or not math.isfinite(value):
        _fail(study, trial, f"{objective.label} is {value}", started)
        return
    study.tell(trial, value)
    say(f"trial {trial.number}: {objective.label} {value:.4f}")


def _fail(study: Any, trial: Any, reason: str, started: float) -> None:
    import optuna

    trial.set_user_attr("seconds", round(time.time() - started, 1))
    trial.set_user_attr("reason", reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


def objective_value(run: Any, objective: Objective) -> float | None:
    """The validation metric of the weights the run ships: its last evaluation, or its best after an early stop."""
    evals = [r[objective.key] for r in run.metrics if r["kind"] == "eval" and objective.key in r]
    if not evals:
        return None
    epochs = [r["epoch"] for r in run.metrics if r["kind"] == "epoch"]
    if epochs and epochs[-1] + 1 < run.config.train.epochs:  # stopped early: the bundle holds the best weights
        return max(evals) if objective.direction == "maximize" else min(evals)
    return evals[-1]


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------ the result


def table(study: Any) -> dict[str, Any]:
    """The study as data (what `--json` prints): every trial that ran, or runs, and the best."""
    setup = study.user_attrs.get("zoo", {})
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("reason") == SURPLUS:
            continue
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
                     "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                     **{k: v for k, v in t.user_attrs.items() if k.startswith("test_")},
                     "seconds": t.user_attrs.get("seconds"), "reason": t.user_attrs.get("reason"),
                     "run": t.user_attrs.get("run")})
    best = _best(study)
    return {"study": study.study_name, "model": setup.get("model"), "metric": setup.get("metric"),
            "direction": setup.get("direction"),
            "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                              "run": best.user_attrs.get("run"),
                                              **{k: v for k, v in best.user_attrs.items() if k.startswith("test_")}},
            "trials": rows}


def _best(study: Any) -> Any:
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return study.best_trial if done else None


def write_results(study: Any, out: Path, best_bundle: Path | None, say: Any) -> dict[str, Any]:
    """best.yaml (the best trial's run config, runnable with `zoo train --config`), the best bundle if asked,
    history.png and importances.png; returns `table(study)`."""
    result = table(study)
    out.mkdir(parents=True, exist_ok=True)
    best = result["best"]
    if best is not None and best["run"] and (Path(best["run"]) / "config.yaml").is_file():
        shutil.copyfile(Path(best["run"]) / "config.yaml", out / "best.yaml")
        result["best_config"] = str(out / "best.yaml")
        if best_bundle is not None:
            if best_bundle.exists():
                shutil.rmtree(best_bundle)
            shutil.copytree(Path(best["run"]) / "bundle", best_bundle)
            result["best_bundle"] = str(best_bundle)
    elif best_bundle is not None:
        say("no trial completed: no best bundle to copy")
    result["plots"] = _plots(study, out, say)
    return result


def _plots(study: Any, out: Path, say: Any) -> list[str]:
    """The optimisation history and the parameter importances as PNG (matplotlib: zoo[plots])."""
    import warnings

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as vis
    except ImportError:
        say('plots not drawn: matplotlib is not installed (pip install "zoo[plots]")')
        return []
    drawn = []
    for name, draw in (("history.png", vis.plot_optimization_history), ("importances.png", vis.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            figure = axes.figure if hasattr(axes, "figure") else axes
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            figure.savefig(out / name, dpi=100)
            plt.close(figure)
            drawn.append(str(out / name))
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # too few finished trials to say anything
            say(f"{name} not drawn: {' '.join(str(err).split())[:200]}")
    return drawn
