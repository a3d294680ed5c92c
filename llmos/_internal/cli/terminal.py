"""The console llmos prints to."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rich.console import Console


def terminal(*, stderr: bool = False) -> Console:
    """A console for llmos's output: numbers and paths are not highlighted at random, and
    text prints as it is (a `:name:` in a goal or a file name is not turned into an emoji).

    Not on a terminal (a pipe, a file) nothing is wrapped: a line goes out whole, whatever
    COLUMNS says, so `grep` and `cut` see full values (tables: `llmos/_internal/cli/table.py`)."""
    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def on_terminal() -> bool:
    """Whether stdout is a terminal (as rich sees it): else llmos prints plain, whole values."""
    return Console(highlight=False).is_terminal


def command_name() -> str:
    """`llmos` as the user can type it again: `llmos` when that is on PATH, else the path it
    was started by (`.venv/bin/llmos` from a clone), else `python3 -m llmos`."""
    started = sys.argv[0] if sys.argv else ""
    if Path(started).name != "llmos":
        return "python3 -m llmos"
    found = shutil.which("llmos")
    try:
        if found and Path(found).samefile(started):
            return "llmos"
    except OSError:
        pass
    return started
