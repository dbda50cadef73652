"""Configs: pydantic base classes, config files and `--set a.b=c` overrides.

Every model family has one config class (a subclass of `ModelConfig`, extra fields
forbidden); the model takes it as its one constructor argument. This module imports
no torch, so listing and validating stay fast.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import ConfigError

__all__ = [
    "Activation",
    "ConfigError",
    "ImageClassifierConfig",
    "Init",
    "ModelConfig",
    "ZooConfig",
    "apply_overrides",
    "load_config_file",
    "parse_assignment",
    "validate_config",
    "zoo_home",
]


def zoo_home() -> Path:
    """Where the zoo keeps data, weights and caches: `$ZOO_HOME`, default `~/.cache/zoo`."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()

Activation = Literal[
    "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "softplus",
    "tanh", "sigmoid", "maxout", "bent_identity",
]
Init = Literal["paper", "kaiming_normal", "xavier_uniform", "xavier_normal", "orthogonal"]


class ZooConfig(BaseModel):
    """Base of every zoo config: unknown fields are errors, assignments are validated, and no float field
    takes NaN or an infinity (`--lr inf` is refused here, not found later as a diverged run)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False)


class ModelConfig(ZooConfig):
    """Base of every model family's config."""

    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example input, without the batch dimension (used by `zoo build`)."""
        in_chans = getattr(self, "in_chans", None)
        image_size = getattr(self, "image_size", None)
        if in_chans is not None and image_size is not None:
            return (in_chans, image_size, image_size)
        raise NotImplementedError(f"{type(self).__name__} must define input_shape()")


class ImageClassifierConfig(ModelConfig):
    """The vocabulary every image classifier shares (timm's names)."""

    # The upper bounds are far past any published model; they turn a typo (an extra digit or
    # three) into a one-line config error instead of a request for terabytes of memory.
    num_classes: int = Field(10, ge=1, le=1_000_000, description="Number of output classes.")
    in_chans: int = Field(1, ge=1, le=4096, description="Input image channels (1 grey, 3 RGB).")
    image_size: int = Field(32, ge=8, le=4096, description="Input height and width in pixels.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate before classifier layers.")
    activation: Activation = Field("relu", description="Hidden activation function.")
    init: Init = Field("paper", description="Weight initialisation scheme ('paper' = as published).")


C = TypeVar("C", bound=BaseModel)


def validate_config(cls: type[C], data: Mapping[str, Any], what: str) -> C:
    """Build `cls` from `data`; on failure raise ConfigError naming field, value and what is allowed."""
    problem = misplaced_collection(cls, data)
    if problem:
        raise ConfigError(f"invalid {what}: {problem}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, cls, what)) from None
    except TypeError as err:  # a family's own `mode="before"` validator given a value of a type it did not expect
        raise ConfigError(f"invalid {what}: a value of the wrong type ({err})") from None


def misplaced_collection(cls: type[BaseModel], data: Mapping[str, Any], prefix: str = "") -> str | None:
    """Where `data` gives a mapping (a section, e.g. from `--set a.b=1`) or a list to a field that holds one
    plain value: a line naming the field, before any validator of `cls` sees the value (None when all fit)."""
    for key, value in data.items():
        field = cls.model_fields.get(key) if isinstance(key, str) else None
        if field is None or not isinstance(value, (dict, list, set)):
            continue
        name, takes = f"{prefix}{key}", _takes(field.annotation)
        if isinstance(value, dict):
            if "mapping" not in takes:
                inner = next(iter(value), "")
                return (f"'{name}' is a value ({_type_name(field.annotation)}), not a section"
                        + (f": {name}.{inner} cannot be set" if isinstance(inner, str) and inner else ""))
            nested = _nested(field.annotation, value, name)
            if nested:
                return nested
        elif "sequence" not in takes:
            return f"'{name}' is a value ({_type_name(field.annotation)}), not a list: got {_short(value)}"
    return None


def _takes(annotation: Any) -> set[str]:
    """What collections a field's annotation accepts: {"mapping", "sequence"} or fewer."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if annotation is Any or isinstance(annotation, (typing.TypeVar, typing.ForwardRef, str)):
        return {"mapping", "sequence"}  # nothing to go by: let validation decide
    if origin is typing.Annotated:
        return _takes(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_takes(a) for a in typing.get_args(annotation)))
    base = origin or annotation
    if not isinstance(base, type):
        return set() if origin is Literal else {"mapping", "sequence"}
    if issubclass(base, (BaseModel, Mapping)):
        return {"mapping"}
    if issubclass(base, (list, tuple, set, frozenset)):
        return {"sequence"}
    return set()


def _nested(annotation: Any, value: dict[str, Any], name: str) -> str | None:
    """Check a section's own fields: a config model, or a mapping of config models (train.optim)."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _nested(args[0], value, name)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if _takes(a) == {"mapping"}]
        return _nested(models[0], value, name) if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return misplaced_collection(annotation, value, name + ".")
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        inner = args[1]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            for key, item in value.items():
                found = misplaced_collection(inner, item, f"{name}.{key}.") if isinstance(item, dict) else None
                if found:
                    return found
    return None


def _type_name(annotation: Any) -> str:
    """`int or 'auto'`, `float or None`, `one of 'ae', 'vae'`: the type of a value for a message."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is Literal:
        return ", ".join(map(repr, args)) if len(args) == 1 else "one of " + ", ".join(map(repr, args))
    if annotation is type(None):
        return "None"
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_validation_error(err: ValidationError, cls: type[BaseModel], what: str) -> str:
    problems = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(root)"
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(_field_names(cls, e["loc"][:-1]))
            problems.append(f"unknown field '{field}' (allowed: {allowed})")
        elif e["type"] == "missing":
            problems.append(f"missing field '{field}'")
        elif not e["loc"]:  # a check across fields: its message names the fields itself
            problems.append(e["msg"].removeprefix("Value error, "))
        else:
            problems.append(f"{field}={e.get('input')!r}: {e['msg'][0].lower()}{e['msg'][1:]}")
    return f"invalid {what}: " + "; ".join(problems)


def _field_names(cls: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (possibly nested) model at `loc`, for 'allowed:' hints."""
    for part in loc:
        field = cls.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = ann
    return list(cls.model_fields)


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`a.b=c` -> (["a", "b"], value); the value is read as a YAML scalar or list."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not p for p in key.strip().split(".")):
        shown = text if len(text) <= 80 else text[:60] + "…"
        raise ConfigError(f"--set expects key=value (e.g. num_classes=10), got {shown!r}")
    parts = key.strip().split(".")
    if len(parts) > MAX_KEY_PARTS:
        raise ConfigError(f"--set {key[:60]}…: a key of {len(parts)} parts; config keys are at most a few deep")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: an integer past Python's digit limit
        value = raw
    check_document_size(value, f"--set {key[:60]}")
    return parts, value


def apply_overrides(doc: Mapping[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """Return a copy of `doc` with every `a.b=c` assignment applied (nested dicts created)."""
    out = json.loads(json.dumps(dict(doc), default=str))
    for text in assignments:
        path, value = parse_assignment(text)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return out


MAX_CONFIG_BYTES = 16 * 2**20  # a run config is a few KB; anything near this is not one
MAX_CONFIG_NODES = 100_000  # values once YAML aliases are expanded (a "billion laughs" file has 10^9)
MAX_CONFIG_DEPTH = 64
MAX_KEY_PARTS = 32


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict, with one-line errors for any file a user can name."""
    p = Path(path)
    text = _read_config_text(p)
    import yaml

    kind = "JSON" if p.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if kind == "JSON" else _safe_yaml(text)
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # ValueError: JSON errors, Python's int-size limit
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"config file {p} is not valid {kind}: {first[:200]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of fields, not {type(data).__name__}")
    check_document_size(data, f"config file {p}")
    return data


def _read_config_text(p: Path) -> str:
    try:
        if p.is_dir():
            raise ConfigError(f"config file {p} is a directory")
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"cannot read config file {p}: {err.strerror or err}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is larger than {MAX_CONFIG_BYTES // 2**20} MB; a run config is a few KB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {err.start}); is it a binary file?") from None


def _safe_yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def check_document_size(data: Any, what: str) -> None:
    """Refuse documents whose YAML aliases expand past MAX_CONFIG_NODES values, that refer to
    themselves, or that nest deeper than MAX_CONFIG_DEPTH (each would exhaust memory or the stack)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES or depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{what} is too large or too deeply nested once its YAML aliases are expanded "
                              f"(limits: {MAX_CONFIG_NODES:,} values, depth {MAX_CONFIG_DEPTH})")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
