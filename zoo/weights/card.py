"""The bundle's `config.json` schema, the config hash and the README model card. Torch-free."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.weights import CONFIG_FILE, WeightsError

FORMAT = "zoo-bundle"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class Preprocessing(_Doc):
    """What an input must look like before it reaches the model."""

    input_size: tuple[int, int] | None = Field(None, description="Input height and width in pixels.")
    in_chans: int | None = Field(None, ge=1, description="Input channels.")
    mean: tuple[float, ...] | None = Field(None, description="Per-channel mean subtracted after scaling to value_range.")
    std: tuple[float, ...] | None = Field(None, description="Per-channel std divided by after subtracting mean.")
    value_range: tuple[float, float] | None = Field(None, description="Pixel values are scaled to this range (before mean/std).")
    class_names: tuple[str, ...] | None = Field(None, description="Name of each output class, in index order.")


class Evaluation(_Doc):
    """Which split chose the weights (best epoch, early stop) and which one the metrics report."""

    chosen_on: Literal["val", "test"] = Field(description="Split of every per-epoch evaluation and choice: 'val' (held "
                                                          "out of the training split) or 'test' (data.val_size=0).")
    chosen_examples: int = Field(ge=0, description="Examples of that split as the run loaded it (a task may measure "
                                                   "on part of it: a GAN's FID on 2,000).")
    reported_on: Literal["test"] = Field("test", description="Split the metrics are measured on, after training.")
    reported_examples: int = Field(ge=0, description="Examples of the test split as the run loaded it.")
    val_size: str = Field("", description="The run's data.val_size: a number, 'auto' (10% of the training split, at "
                                          "most 5,000, seeded and class-stratified) or 0.")

    def sentence(self) -> str:
        """The model card's line about it."""
        if self.chosen_on == "test":
            return (f"Selection used the test split (data.val_size=0): the per-epoch evaluations, best weights and "
                    f"early stop read the same test split ({self.reported_examples:,} examples) the metrics report, "
                    "so any choice made on it is optimistic.")
        return (f"Chosen on val, reported on test: per-epoch evaluation, best weights and early stop used the "
                f"validation split ({self.chosen_examples:,} examples held out of the training split, data.val_size="
                f"{self.val_size}, a seeded class-stratified draw); the metrics are of the test split "
                f"({self.reported_examples:,} examples), read once, after training.")


class BundleConfig(_Doc):
    """`config.json` of a bundle: everything needed to rebuild the model, then load its weights."""

    format: Literal["zoo-bundle"] = Field(FORMAT, description="Marks the file as a zoo bundle config.")
    format_version: Literal[1] = Field(1, description="Bundle format version; this zoo reads version 1.")
    zoo_version: str = Field(description="zoo version that wrote the bundle.")
    plugin: str = Field(description="Plugin providing the model.")
    plugin_version: str = Field(description="That plugin's version when the bundle was written.")
    model: str = Field(description="Model name within the plugin.")
    config: dict[str, Any] = Field(description="The full validated model config.")
    config_hash: str = Field(description="sha256 of the canonical JSON of `config`.", pattern=r"^[0-9a-f]{64}$")
    tag: str | None = Field(None, description="Weights tag ('mnist' in 'lenet5.mnist').", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    data: str = Field("", description="Training data.")
    preprocessing: Preprocessing | None = Field(None, description="Input format the weights expect.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Measured metrics (by `zoo eval`).")
    command: str = Field("", description="The exact command that made these weights.")
    license: str = Field("", description="License of the weights.")
    notes: str = Field("", description="Free text for the model card.")
    evaluation: Evaluation | None = Field(None, description="Which split chose the weights and which reports them "
                                                            "(written by zoo train; None for other bundles).")

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.model}"


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the config's canonical JSON (sorted keys, no spaces): equal configs, equal hashes."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_bundle_config(directory: Path) -> BundleConfig:
    """Read and validate `config.json`; a missing, malformed or tampered file is a WeightsError."""
    path = directory / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{directory}: not a bundle ({CONFIG_FILE} is missing)") from None
    except (OSError, ValueError, RecursionError) as err:  # ValueError: bad UTF-8 or JSON, huge integers
        raise WeightsError(f"{path}: not valid JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: must hold a JSON object, not {type(data).__name__}")
    try:
        doc = BundleConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise WeightsError(f"{path}: malformed bundle config: {where}: {first['msg']}") from None
    if config_hash(doc.config) != doc.config_hash:
        raise WeightsError(f"{path}: config_hash does not match the config it sits next to (edited by hand?)")
    return doc


def render_card(doc: BundleConfig, summary: str, paper: str, sha256: str, size: int) -> str:
    """The README.md model card: what, data, recipe, metrics, preprocessing, license."""
    name = f"{doc.model}.{doc.tag}" if doc.tag else doc.model
    lines = [f"# {name}", "", summary or f"{doc.qualified_name} weights.", ""]
    if doc.notes:
        lines += [doc.notes, ""]
    if paper:
        lines += [f"Paper: {paper}", ""]
    lines += ["## Data", "", doc.data or "not recorded", "", "## How it was made", ""]
    lines += [f"```\n{doc.command}\n```" if doc.command else "not recorded", "", "## Metrics", ""]
    if doc.metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.6g} |" for k, v in doc.metrics.items()]
    else:
        lines.append("none measured")
    if doc.evaluation is not None:
        lines += ["", doc.evaluation.sentence()]
    lines += ["", "## Use", "", "```python", "import zoo", "",
              f'model = zoo.load("{name}")' if doc.tag else 'model = zoo.from_pretrained("path/to/this/bundle")',
              "```", ""]
    if doc.preprocessing is not None:
        lines += ["## Preprocessing", ""]
        for key, value in doc.preprocessing.model_dump(exclude_none=True).items():
            shown = ", ".join(map(str, value)) if isinstance(value, (tuple, list)) else value
            lines.append(f"- {key}: {shown}")
        lines.append("")
    lines += ["## Files", "", f"- model.safetensors: {size:,} bytes, sha256 `{sha256}`",
              f"- config.json: {doc.qualified_name} config (hash `{doc.config_hash[:16]}…`), "
              f"zoo {doc.zoo_version}, plugin {doc.plugin} {doc.plugin_version}", "",
              "## License", "", doc.license or "not stated", ""]
    return "\n".join(lines)
