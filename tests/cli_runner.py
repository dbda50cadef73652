"""Run the real `zoo` entry function in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_zoo(capsys, *args: str) -> Result:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
