"""A task's option schema (`zoo.tasks.options`) as command-line options: parsing and `--help`.

`zoo sample` and `zoo eval` declare only what every model shares (the model, its weights, the
data); the rest of the command line is read against the model's task's `SampleOptions` or
`EvalOptions`: `--field-name VALUE` or `--field-name=VALUE`, a bare `--flag` (and `--no-flag`)
for a boolean, and a list field (`--prompt`) repeated. pydantic validates the values, so the
messages are the config's: one line naming the option and what it allows.
"""

from __future__ import annotations

import typing
from typing import Any

from zoo.tasks.options import OptionError, flag, validate_options


def _kind(annotation: Any) -> str:
    """'bool', 'list' or 'value' for a field's annotation (Optional[...] looked through)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if annotation is bool or (args == [bool] and origin is not list):
        return "bool"
    if origin is list or any(typing.get_origin(a) is list for a in args):
        return "list"
    return "value"


def parse_options(schema: type, args: list[str], owner: str, given: dict[str, Any] | None = None) -> Any:
    """`args` (what the command did not declare) as an instance of `schema`; `given` are values already read.

    `owner` names the model and task in messages ("zoo:dcgan (an adversarial model)").
    """
    fields = schema.model_fields
    flags = {flag(name): name for name in fields}
    values: dict[str, Any] = dict(given or {})
    i = 0
    while i < len(args):
        token = args[i]
        head, eq, inline = token.partition("=")
        name = flags.get(head)
        negated = name is None and head.startswith("--no-") and flags.get("--" + head[5:]) is not None
        if negated:
            name = flags["--" + head[5:]]
        if name is None or not token.startswith("--"):
            known = ", ".join(sorted(flags))
            what = f"option {head}" if token.startswith("-") else f"argument {token!r}"
            raise OptionError(f"{what} does not apply to {owner}; its options: {known}")
        kind = _kind(fields[name].annotation)
        if kind == "bool":
            if eq:
                raise OptionError(f"{head} is a switch: give it alone (or --no-{head[2:]}), without a value")
            values[name] = not negated
        else:
            if negated:
                raise OptionError(f"{head} is not a switch; give {'--' + head[5:]} VALUE")
            if eq:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                raise OptionError(f"{head} needs a value")
            if kind == "list":
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
        i += 1
    return validate_options(schema, values, owner)


def options_help(schema: type, title: str) -> str:
    """The options of `schema` as an aligned table of flag, type, default and description."""
    from zoo.index import columns

    rows = []
    for name, field in schema.model_fields.items():
        kind = _kind(field.annotation)
        shown = flag(name) if kind == "bool" else f"{flag(name)} {_metavar(field.annotation)}"
        if kind == "list":
            shown += " (repeatable)"
        default = "" if field.is_required() else field.get_default(call_default_factory=True)
        hidden = default is None or default is False or default == "" or default == []
        rows.append([shown, "" if hidden else f"[default: {default}]", field.description or ""])
    return f"{title}\n\n" + columns(["option", "default", "description"], rows)


def _metavar(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    if typing.get_origin(base) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(base))
    if typing.get_origin(base) is list:
        base = typing.get_args(base)[0]
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    return {int: "INT", float: "FLOAT", str: "TEXT", bool: ""}.get(base, "PATH" if "Path" in str(base) else "VALUE")
