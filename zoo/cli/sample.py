from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo.cli import complete
from zoo.cli.app import app, console


@app.command("sample")
def sample_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Pretrained tag (dcgan.mnist), or the model --weights belong to.", autocompletion=complete.model_names)] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file, tag or hf:// URL.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="Number of samples in the grid.")] = 64,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("samples.png"),
    data: Annotated[Optional[str], typer.Option("--data", help="Dataset to draw examples from, for tasks that need one.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which examples / noise are drawn.")] = 0,
    label: Annotated[Optional[int], typer.Option("--label", help="Conditional models (cvae, cgan): the class to draw.")] = None,
    interpolate: Annotated[bool, typer.Option("--interpolate", help="Autoencoders/VAEs: a strip of --n images walking the code space between two test images; GANs: spherical interpolation between two noise vectors.")] = False,
    truncation: Annotated[Optional[float], typer.Option("--truncation", help="GANs: draw noise from N(0, 1) truncated to [-T, T] (T > 0; smaller: more typical, less varied).")] = None,
    reconstruct: Annotated[bool, typer.Option("--reconstruct", help="Autoencoders/VAEs: test images above their reconstructions.")] = False,
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", help="Text-to-image models (gan_cls): what to draw; repeat for one labelled row per prompt, twice with --interpolate to walk between them.")] = None,
) -> None:
    """Write a grid of what the model does (a classifier: test images titled with predicted and true labels)."""
    from zoo.engine.inference import load_eval_split, load_trained

    loaded = load_trained(weights, name, data)
    task = loaded.task
    options = _task_options(task, loaded.model.zoo_name, label=label, interpolate=interpolate, reconstruct=reconstruct,
                            truncation=truncation, prompt=prompt)  # refused before any data is loaded
    examples = load_eval_split(loaded, task.sample_split) if task.sample_split else None
    path = task.sample(examples, n, out, seed=seed, **options)
    console.print(f"wrote {path}", markup=False, highlight=False)


def _task_options(task: object, model: str, **given: object) -> dict[str, object]:
    """The options that were set, each refused in one line unless the task's `sample` takes it."""
    import inspect

    from zoo.errors import ZooError

    chosen = {k: v for k, v in given.items() if v is not None and v is not False}
    accepted = inspect.signature(task.sample).parameters
    for key in chosen:
        if key not in accepted:
            raise ZooError(f"--{key} does not apply to {model} (a {type(task).__name__.removesuffix('Task').lower()} model)")
    return chosen
