from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note, print_json

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("sweep", context_settings=_PASS_THROUGH)
def sweep_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model to tune.", autocompletion=complete.model_names)],
    space: Annotated[Path, typer.Option("--space", help="YAML file: per config key a distribution {type: float|int|categorical, ...} or {grid: [...]}.")],
    out: Annotated[Path, typer.Option("--out", help="Sweep directory: the study (study.db), trials/, best.yaml, plots.")],
    trials: Annotated[int, typer.Option("--trials", help="Trials in the study, all processes sharing it together.")] = 20,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Validation metric to optimise (default val_<the task's main metric>).")] = None,
    direction: Annotated[Optional[str], typer.Option("--direction", help="maximize or minimize (default: the task's for its main metric).")] = None,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, random or grid.")] = "tpe",
    pruner: Annotated[str, typer.Option("--pruner", help="median, halving (successive halving) or none; fed each epoch's validation metric.")] = "median",
    startup_trials: Annotated[int, typer.Option("--startup-trials", help="Trials the median pruner lets finish before it prunes.")] = 5,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL (default sqlite:///OUT/study.db); postgresql://... shares a study between machines.")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name in the storage (default: the --out directory's name).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Trials run in parallel on this machine (processes, CPU threads split between them).")] = 1,
    sampler_seed: Annotated[int, typer.Option("--sampler-seed", help="Seed of the sampler.")] = 0,
    best_bundle: Annotated[Optional[Path], typer.Option("--best-bundle", help="Copy the best trial's weights bundle here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """NAME --space SPACE.yaml --out DIR [zoo train's flags]: tune a model on Optuna, every trial a real run.

    Every `zoo train` flag (--data, --epochs, --batch-size, --set ...) is the fixed part of each trial's config;
    the space file's keys vary. Each trial trains in OUT/trials/trial-NNNN and its per-epoch validation metric
    feeds the pruner. The same command again continues the study (after Ctrl-C or a kill too); --storage URL and
    --study NAME share one study between processes and machines. At the end: a table of the trials, best.yaml
    (run it with `zoo train --config OUT/best.yaml`), history.png and importances.png.

    Exit codes: 2 bad input (a bad space file, an unknown key, a missing package).
    """
    from zoo.cli.train import training_request
    from zoo.sweep import WORKER_ENV, SweepRequest, sweep, write_results

    base = training_request(ctx, name, "sweep", "each trains in OUT/trials/; running the same sweep again continues it")
    req = SweepRequest(base=base, space_file=space, out=out, trials=trials, metric=metric, direction=direction,
                       sampler=sampler, pruner=pruner, startup_trials=startup_trials, storage=storage, study=study,
                       jobs=jobs, seed=sampler_seed)
    req.argv = ["sweep", name, "--space", str(space), "--out", str(out), "--trials", str(trials), "--sampler", sampler,
                "--pruner", pruner, "--startup-trials", str(startup_trials),
                *(["--metric", metric] if metric else []), *(["--direction", direction] if direction else []),
                *(["--storage", storage] if storage else []), *(["--study", study] if study else []), *ctx.args]
    worker = bool(os.environ.get(WORKER_ENV))
    result_study = sweep(req, (lambda _: None) if worker else note)
    if worker:
        return
    result = write_results(result_study, out, best_bundle, note)
    if as_json:
        print_json(result)
        return
    _print_table(result)


def _print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    rows = result["trials"]
    keys = sorted({k for r in rows for k in r["params"]})
    tests = sorted({k for r in rows for k in r if k.startswith("test_")})
    grid = Table(title=f"study {result['study']}: {result['metric']} ({result['direction']})")
    for column in ["trial", "state", result["metric"], *(k.split(".")[-1] for k in keys), *tests, "s", "note"]:
        grid.add_column(column, no_wrap=True)
    best = (result.get("best") or {}).get("number")
    for r in rows:
        cells = [f"{r['number']}{' *' if r['number'] == best else ''}", r["state"], _fmt(r["value"]),
                 *(_fmt(r["params"].get(k)) for k in keys), *(_fmt(r.get(k)) for k in tests), _fmt(r["seconds"]),
                 (r["reason"] or "")[:60]]
        grid.add_row(*cells)
    console.print(grid, width=max(console.width, 160), crop=False)
    if result.get("best"):
        b = result["best"]
        console.print(f"best: trial {b['number']}, {result['metric']} {b['value']:.4f}; config {result.get('best_config')}"
                      + (f"; bundle {result['best_bundle']}" if result.get("best_bundle") else ""),
                      markup=False, highlight=False)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
