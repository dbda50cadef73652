"""`zoo list` answered from the listing index (`zoo.index`) before typer, rich or pydantic load.

Only the plain forms are answered here: glob patterns, `--task`, `--family`, `--pretrained`,
`--json`. Anything else, and any index that no longer describes the environment, falls through
to the typer command, which validates the manifests and writes a fresh index.
"""

from __future__ import annotations

import sys

_VALUED = {"--task": "task", "--family": "family"}
_FLAGS = {"--pretrained": "pretrained", "--json": "as_json"}


def answer(args: list[str]) -> int | None:
    """The exit code after printing `zoo list`'s output, or None to leave the command to typer."""
    if not args or args[0] != "list":
        return None
    options = _parse(args[1:])
    if options is None:
        return None
    from zoo.index import load_index, render_list, select

    doc = load_index()
    if doc is None or (options["task"] is not None and options["task"] not in doc["tasks"]):
        return None
    for message in doc["warnings"]:
        print(f"warning: {message}", file=sys.stderr)
    found = select(doc["models"], options["patterns"], options["task"], options["family"], options["pretrained"])
    text, footer = render_list(found, doc["plugins_ok"], options["as_json"])
    print(text)
    if footer:
        print(footer)
    return 0


def _parse(args: list[str]) -> dict | None:
    options: dict = {"patterns": [], "task": None, "family": None, "pretrained": False, "as_json": False}
    i = 0
    while i < len(args):
        token = args[i]
        head, eq, value = token.partition("=")
        if head in _VALUED and eq:
            options[_VALUED[head]] = value
        elif token in _VALUED and i + 1 < len(args) and not args[i + 1].startswith("-"):
            options[_VALUED[token]] = args[i + 1]
            i += 1
        elif token in _FLAGS:
            options[_FLAGS[token]] = True
        elif token.startswith("-"):
            return None  # --help, --extractors, a typo: typer's to answer
        else:
            options["patterns"].append(token)
        i += 1
    return options
