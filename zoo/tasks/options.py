"""The options a task's `zoo sample` and `zoo eval` take, as pydantic models (torch-free).

Each task declares `SampleOptions` and `EvalOptions`, subclasses of the bases here with its own
fields (`Field(description=...)` doubles as the help text). The CLI builds `zoo sample NAME
--help` and `zoo eval NAME --help` from them, and refuses an option the task does not have in
one line listing the ones it has; `zoo.sample` and `zoo.evaluate` validate keyword options
with the same classes, so the command line and Python accept the same options.

`n`, `seed` and `out` mean the same in every task: how many samples (or examples), which random
draw, and the file written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import ZooError


class OptionError(ZooError):
    """An option the model's task does not take, or a value it refuses: one line, exit code 2."""


def flag(field: str) -> str:
    """A field's command-line spelling: `extractor_weights` -> `--extractor-weights`."""
    return "--" + field.replace("_", "-")


def validate_options(schema: type, values: dict[str, Any], owner: str) -> Any:
    """`schema(**values)`, with every refusal as one line naming the option (as `--flag`) and what it allows."""
    from pydantic import ValidationError

    unknown = sorted(set(values) - set(schema.model_fields))
    if unknown:
        known = ", ".join(sorted(flag(n) for n in schema.model_fields))
        raise OptionError(f"option {flag(unknown[0])} does not apply to {owner}; its options: {known}")
    try:
        return schema(**values)
    except ValidationError as err:
        reasons = []
        for e in err.errors():
            loc = e["loc"][0] if e["loc"] else ""
            shown = flag(str(loc)) if loc else "options"
            reasons.append(f"{shown}: {e['msg']}" + (f" (got {values.get(loc)!r})" if loc in values else ""))
        raise OptionError("; ".join(reasons)) from None




class TaskOptions(BaseModel):
    """Every task's options refuse NaN and infinity, as every config field does."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class SampleOptions(TaskOptions):
    """What every task's `zoo sample` takes."""

    n: int = Field(64, ge=1, le=1024, description="Number of images drawn (or examples shown).")
    seed: int = Field(0, description="Which noise / examples are drawn; the same seed gives the same picture.")
    out: Path = Field(Path("samples.png"), description="PNG file to write.")


class EvalOptions(TaskOptions):
    """What every task's `zoo eval` takes."""

    n: int | None = Field(None, ge=1, description="Examples evaluated (the first N of the split), or images drawn "
                                                  "by a generator; default: the task's.")
    seed: int = Field(0, description="Seed of any sampling the evaluation does.")


class GeneratorEvalOptions(EvalOptions):
    """`zoo eval` of anything that draws images: sample metrics against real images."""

    metrics: str | None = Field(None, description="Comma-separated, from fid,is,mode_score,kid,mmd,one_nn,wasserstein,"
                                                  "precision,recall (default: the task's).")
    reference: str | None = Field(None, description="DATASET[:SPLIT] to compare with (default: the weights' dataset, "
                                                    "test split).")
    extractor: str = Field("lenet5_mnist", description="Feature extractor (`zoo list --extractors`).")
    extractor_weights: str | None = Field(None, description="Local weights file for the extractor (never downloaded).")
