from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console, note, print_json


@app.command("lr-find", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lr_find_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model to test.", autocompletion=complete.model_names)],
    steps: Annotated[int, typer.Option("--steps", help="Steps of the exponential ramp.")] = 200,
    start_lr: Annotated[float, typer.Option("--start-lr", help="Learning rate of the first step.")] = 1e-7,
    end_lr: Annotated[float, typer.Option("--end-lr", help="Learning rate of the last step.")] = 10.0,
    out: Annotated[Optional[Path], typer.Option("--out", help="The loss curve (default lr-find-<model>.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the learning rates, losses and the suggestion as JSON.")] = False,
) -> None:
    """NAME [zoo train's flags]: the learning-rate range test (Smith 2017): the loss over an exponential lr ramp,
    plotted, and a suggested lr (the steepest descent of the smoothed loss) to give `zoo train --lr`.

    Every `zoo train` flag (--data, --batch-size, --optimizer, --set ...) sets up the run being tested; its
    weights are left as they were and nothing but the plot is written.
    """
    from zoo.cli.train import training_request
    from zoo.lr_find import lr_find, plot

    req = training_request(ctx, name, "lr-find", "the test writes no run; --out names its plot")
    result, config = lr_find(req, steps, start_lr, end_lr)
    path = plot(result, out or Path(f"lr-find-{name.split(':')[-1]}.png"),
                f"{config.model.name} on {config.data.name}: lr range test, {len(result.lrs)} steps")
    if as_json:
        print_json({"model": config.model.name, "data": config.data.name, "plot": str(path), **result.as_dict()})
        return
    note(f"ramp: {len(result.lrs)} steps from lr {result.lrs[0]:.2g} to {result.lrs[-1]:.2g} ({result.stopped}); plot {path}")
    if result.suggestion is None:
        console.print("no suggestion: the loss did not fall over the range (try a wider --start-lr/--end-lr or more --steps)",
                      markup=False, highlight=False)
        return
    console.print(f"suggested lr {result.suggestion:.3g} (steepest descent of the smoothed loss); the recipe's is "
                  f"{result.recipe_lr:.3g}; train with --lr {result.suggestion:.3g}", markup=False, highlight=False)
