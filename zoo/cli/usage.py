"""Usage errors as one line: `error: --batch-size: 'x' is not an integer (see zoo train --help)`.

Typer raises click's exceptions: those of the `click` package up to typer 0.2x, those of its
own vendored copy (`typer._click`) from 0.29 on. Both are recognised by shape (a class named
`UsageError` in their ancestry, from a click module), so no version of typer can turn a typo
back into an internal error.
"""

from __future__ import annotations

import difflib
from typing import Any

_TYPE_WORDS = {"integer": "an integer", "float": "a number", "boolean": "true or false",
               "path": "a path", "text": "text", "int": "an integer"}


def is_usage_error(err: BaseException) -> bool:
    return any(cls.__name__ == "UsageError" and "click" in cls.__module__ for cls in type(err).__mro__)


def is_click_exception(err: BaseException) -> bool:
    return any(cls.__name__ == "ClickException" and "click" in cls.__module__ for cls in type(err).__mro__)


def is_no_args_help(err: BaseException) -> bool:
    return type(err).__name__ == "NoArgsIsHelpError"


def describe(err: Any, argv: list[str], root: Any = None) -> str:
    """One line naming the option (or argument, or command) and the bad value, and the help to read."""
    kind = type(err).__name__
    ctx = getattr(err, "ctx", None)
    if kind == "NoSuchOption":
        text = _no_such_option(err)
    elif kind == "MissingParameter":
        text = _missing(err)
    elif kind == "BadParameter":
        text = _bad_parameter(err, argv)
    elif kind == "BadOptionUsage" and "requires an argument" in _message(err):
        text = f"{err.option_name}: needs a value"
    elif kind == "BadOptionUsage":
        text = f"{err.option_name}: {_lower_first(_message(err)).rstrip('.')}"
    else:
        text = _unknown_command(err, ctx) or _lower_first(_message(err)).rstrip(".")
    return f"{text} (see {_help_path(ctx, argv, root)} --help)"


def _help_path(ctx: Any, argv: list[str], root: Any) -> str:
    """The command whose help to read: the context's, or the deepest command named in argv."""
    path, command = (ctx.command_path, ctx.command) if ctx is not None else ("zoo", root)
    for token in argv:
        sub = (getattr(command, "commands", None) or {}).get(token)
        if sub is not None and token not in path.split():
            path, command = f"{path} {token}", sub
    return path


def _message(err: Any) -> str:
    return " ".join(str(getattr(err, "message", "") or err).split())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _param_name(param: Any) -> str:
    if param is None:
        return "value"
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or list(getattr(param, "opts", []))
    if getattr(param, "param_type_name", "") == "argument":
        return (param.human_readable_name if hasattr(param, "human_readable_name") else param.name).upper()
    return opts[0] if opts else str(param.name)


def _no_such_option(err: Any) -> str:
    name = err.option_name
    text = f"no such option {name}"
    options = sorted(getattr(err, "possibilities", None) or [])
    ctx = getattr(err, "ctx", None)
    if not options and ctx is not None:
        known = [o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
        options = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    return f"{text}; did you mean {' or '.join(options)}?" if options else text


def _missing(err: Any) -> str:
    param = err.param
    if param is not None and getattr(param, "param_type_name", "") == "argument":
        return f"missing argument {_param_name(param)}"
    return f"missing option {_param_name(param)}"


def _bad_parameter(err: Any, argv: list[str]) -> str:
    param = err.param
    name = _param_name(param)
    value = _given_value(param, argv)
    type_name = _type_name(param)
    message = _message(err)
    is_conversion = type_name in _TYPE_WORDS and value is not None and not _converts(value, type_name)
    if value is not None and is_conversion:
        return f"{name}: {_short(value)} is not {_TYPE_WORDS[type_name]}"
    prefix = f"{name}: {_short(value)}: " if value is not None and repr(value)[1:-1] not in message else f"{name}: "
    return prefix + _lower_first(message).rstrip(".")


def _converts(value: str, type_name: str) -> bool:
    try:
        {"integer": int, "float": float}.get(type_name, str)(value)
    except ValueError:
        return False
    return True


def _type_name(param: Any) -> str:
    """'integer', 'float', ... for click's ParamType (`param.type`) and typer 0.29's annotations alike."""
    click_type = getattr(param, "type", None)
    if click_type is not None:
        return str(getattr(click_type, "name", ""))
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return {int: "integer", float: "float", bool: "boolean"}.get(annotation, "")


def _given_value(param: Any, argv: list[str]) -> str | None:
    """The text the user gave for an option (`--n x` or `--n=x`); None for arguments or when absent."""
    if param is None:
        return None
    opts = set(getattr(param, "opts", [])) | set(getattr(param, "secondary_opts", []))
    for i, token in enumerate(argv):
        head, eq, tail = token.partition("=")
        if eq and head in opts:
            return tail
        if token in opts and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _short(value: str, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]


def _unknown_command(err: Any, ctx: Any) -> str | None:
    message = _message(err)
    if not message.startswith("No such command") or ctx is None:
        return None
    name = message.split("'", 2)[1] if message.count("'") >= 2 else ""
    choices = sorted(getattr(ctx.command, "commands", {}) or {})
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; commands: {', '.join(choices)}"
    return f"no command {_short(name)}{hint}"
