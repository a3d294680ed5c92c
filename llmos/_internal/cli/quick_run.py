"""`llmos run GOAL` read without typer, whose import alone is a tenth of a replay's time.

The command line is read here when it is written the plain way: one goal, and each option as
its own word (`--json`, `-y`...) followed, if it takes one, by its value as the next word
(`--timeout 30`, `-p web`). Anything else (`--help`, `--`, `--name=value`, short options run
together, an option given twice, a value or a goal that starts with `-`, a second goal, a
value typer would refuse) is left to typer (`app.py`), which reads every form and says what
is wrong. tests/test_quick_run.py holds this reader to typer's: each command line read here,
typer reads as the same options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos._internal.cli.run_goal import APPROVE_VIA, RunOptions
from llmos._internal.engine.types import MODES

# A value's reading: what typer would make of it, or None where typer would refuse it (then
# typer reads the command line, to say why).
Reading = Callable[[str], Any]


def _one_of(choices: tuple[str, ...]) -> Reading:
    return lambda text: text if text in choices else None


def _number(kind: type[float] | type[int], least: float, most: float = math.inf) -> Reading:
    """A number as click reads it (`float(text)` or `int(text)`), finite and in range."""

    def read(text: str) -> float | int | None:
        try:
            value = kind(text)
        except ValueError:
            return None
        return value if math.isfinite(value) and least <= value <= most else None

    return read


def _folder(text: str) -> Path | None:
    """A workspace folder as typer reads it: not a file, readable if it exists."""
    path = Path(text)
    if not text or path.is_file() or (path.exists() and not os.access(path, os.R_OK)):
        return None
    return path


_FLAGS = {"--json": "as_json", "--yes": "yes", "-y": "yes", "--dry-run": "dry_run"}
_OPTIONS: dict[str, tuple[str, Reading]] = {
    "--mode": ("mode", _one_of(MODES)),
    "--project": ("project", str),
    "--budget": ("budget", _number(float, 0.0001)),
    "--model": ("model", str),
    "--max-turns": ("max_turns", _number(int, 1)),
    "--timeout": ("timeout", _number(float, 0.1)),
    "--trace": ("trace", str),
    "--parallel": ("parallel", _number(int, 1, 16)),
    "--approve-via": ("approve_via", _one_of(APPROVE_VIA)),
    "--workspace": ("workspace", _folder),
}
_SHORT = {"-m": "--mode", "-p": "--project", "-b": "--budget", "-t": "--trace", "-w": "--workspace"}
_WITH_VALUE = {**_OPTIONS, **{short: _OPTIONS[long] for short, long in _SHORT.items()}}


def read_run(args: list[str]) -> RunOptions | None:
    """The options of `llmos run ARGS`, or None when typer must read them."""
    goal: str | None = None
    options: dict[str, Any] = {}
    words = iter(args)
    for word in words:
        if word in _FLAGS:
            name = _FLAGS[word]
            if name in options:
                return None
            options[name] = True
        elif word in _WITH_VALUE:
            name, reading = _WITH_VALUE[word]
            text = next(words, None)
            if name in options or text is None or text.startswith("-"):
                return None
            value = reading(text)
            if value is None:
                return None
            options[name] = value
        elif word.startswith("-") or goal is not None:
            return None
        else:
            goal = word
    return None if goal is None else RunOptions(goal=goal, **options)
