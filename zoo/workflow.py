"""The whole workflow in Python: `zoo.train`, `zoo.evaluate`, `zoo.sample`; the CLI is a thin shell over these.

    run = zoo.train("lenet5", data="mnist", epochs=1)       # a real run: run dir, metrics, checkpoints, bundle
    run.dir, run.bundle, run.final["accuracy"], run.metrics[-1]
    zoo.evaluate(run.bundle)                                  # the task's report: accuracy, confusion matrix...
    zoo.evaluate("dcgan.mnist", metrics="fid,kid", n=2000)   # a generator's sample metrics
    images = zoo.sample("cgan.mnist", 16, condition=7, seed=1)   # 16 x 1 x 28 x 28 in [0, 1]

Options beyond the named arguments are the model's task's (`SampleOptions`, `EvalOptions` of
`zoo.tasks.options`): the same names and checks as `zoo sample NAME --help` and `zoo eval NAME
--help` list, e.g. `truncation=0.7` for a GAN, `iw_samples=500` for a VAE, or a plugin task's
own. An option the task does not have is a ZooError naming the ones it has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["evaluate", "sample", "train"]


def describe_owner(loaded: Any) -> str:
    """'zoo:dcgan (task adversarial)': who an option was refused for."""
    from zoo.names import resolve

    return f"{loaded.model.zoo_name} (task {resolve(loaded.model.zoo_name)[0].entry.task})"


def sample(weights: str | Path, n: int = 64, condition: Any = None, seed: int = 0, *, data: str | None = None,
           device: str = "auto", **options: Any) -> Any:
    """`n` images (a tensor N x C x H x W in the data's value range) drawn by the trained model in `weights`.

    `weights`: a pretrained tag (`dcgan.mnist`), a bundle or run directory, a zoo .safetensors file
    or an `hf://` reference. `condition`: a label (conditional models) or a prompt (text-to-image);
    `seed` fixes the draw. `options` are the task's sample options (`truncation=0.7`, `steps=50`).
    """
    from zoo.engine.inference import load_trained
    from zoo.tasks.options import validate_options

    loaded = load_trained(str(weights), None, data, device)
    opts = validate_options(loaded.task.SampleOptions, {"n": n, "seed": seed, **options}, describe_owner(loaded))
    return loaded.task.generate(opts, condition)


def sample_picture(loaded: Any, options: Any) -> Path:
    """The task's picture (`zoo sample`): what `options.out` receives."""
    task = loaded.task
    examples = task.load_held_split(task.sample_split) if task.sample_split else None
    return task.sample(examples, options)


def evaluate(weights: str | Path, data: str | None = None, metrics: str | None = None, n: int | None = None, *,
             seed: int = 0, device: str = "auto", progress: Any = None, **options: Any) -> dict[str, Any]:
    """The task's report on the trained model in `weights` (what `zoo eval --json` prints), as a dict.

    A classifier: accuracy, per-class accuracy and the confusion matrix; an autoencoder or VAE:
    reconstruction, ELBO and the IWAE bound; a generator: FID, IS, KID, ... of `n` samples
    (`metrics="fid,kid"`). `n` is the number of examples (or samples) in every task; `data`
    overrides the dataset the weights were trained on.
    """
    from zoo.engine.inference import load_trained
    from zoo.tasks.options import validate_options

    loaded = load_trained(str(weights), None, data, device)
    given = {"seed": seed, **options}
    if n is not None:
        given["n"] = n
    if metrics is not None:
        given["metrics"] = metrics
    opts = validate_options(loaded.task.EvalOptions, given, describe_owner(loaded))
    return loaded.task.report(opts, progress)


def train(name: str, data: str | None = None, out: str | Path | None = None, resume: str | Path | None = None, *,
          config: str | Path | None = None, quiet: bool = True, **overrides: Any) -> Any:
    """Train `name` for real, exactly as `zoo train` does, and return the finished `Run`.

    `data`: a dataset name or image-folder path (default: the model's recipe, else mnist). `out`:
    the run directory (default `runs/<model>-<time>`); `resume`: a run directory to continue
    (only `epochs` may change). `config`: a YAML/JSON run config file. `overrides` are what
    `--set` takes, as keyword arguments: a train field (`epochs=3`, `lr=1e-3`), a model or data
    field when unambiguous (`num_classes=5`, `val_size=5000`), or a whole section as a dict
    (`model={"width": 16}`, `train={"optim": {"discriminator": {"lr": 1e-4}}}`).

    The result: `run.dir`, `run.bundle` (the weights bundle), `run.final` (the final evaluation of
    the bundled weights), `run.metrics` (every record of metrics.jsonl), `run.config`.
    """
    import json
    import shlex

    from zoo.engine.runs import RunRequest, train_run

    sets = []
    for key, value in overrides.items():
        pairs = _flatten(key, value) if key in ("model", "data", "train") and isinstance(value, dict) else [(key, value)]
        sets += [f"{k}={json.dumps(v, default=str)}" for k, v in pairs]
    # the model card records the equivalent command line, which reproduces the run
    words = ["train", name, *(["--data", str(data)] if data else []), *(["--config", str(config)] if config else []),
             *(w for s in sets for w in ("--set", s))]
    req = RunRequest(name=name, data=data, config_file=Path(config) if config else None, sets=sets,
                     out=Path(out) if out is not None else None, resume=Path(resume) if resume is not None else None,
                     quiet=quiet, command="zoo " + shlex.join(words))
    return train_run(req)


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """{"optim": {"discriminator": {"lr": 1e-4}}} under "train" -> [("train.optim.discriminator.lr", 1e-4)]."""
    if not isinstance(value, dict) or not value:
        return [(prefix, value)]
    return [pair for k, v in value.items() for pair in _flatten(f"{prefix}.{k}", v)]
