"""The console llmos prints to."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llmos._internal.cli.plain_console import PlainConsole, Printer

if TYPE_CHECKING:
    from rich.console import Console


def terminal(*, stderr: bool = False) -> Console:
    """A console for llmos's output: numbers and paths are not highlighted at random, and
    text prints as it is (a `:name:` in a goal or a file name is not turned into an emoji).

    Not on a terminal (a pipe, a file) nothing is wrapped: a line goes out whole, whatever
    COLUMNS says, so `grep` and `cut` see full values (tables: `llmos/_internal/cli/table.py`)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def printer(*, stderr: bool = False) -> Printer:
    """`terminal()` on a terminal; else a console that prints the same text without loading
    rich (`llmos run`: a replay's output costs it no rich)."""
    if on_terminal(stderr=stderr):
        return terminal(stderr=stderr)
    return PlainConsole(stderr=stderr)


def on_terminal(*, stderr: bool = False) -> bool:
    """Whether llmos prints to a terminal (else plain, whole values), as rich decides it:
    TTY_COMPATIBLE (0 or 1), else FORCE_COLOR (set and not empty), else the stream."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return (sys.stderr if stderr else sys.stdout).isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


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
