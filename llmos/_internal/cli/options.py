"""Options shared by several commands."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from llmos._internal.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $LLMOS_HOME, else ~/.llmos).",
        file_okay=False,
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Model alias or id (default: config.yaml).", show_default=False),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout and nothing else (errors too)."),
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Do not ask for confirmation (needed where there is no terminal to ask).",
    ),
]


def confirm(question: str, *, yes: bool) -> None:
    """Go on only if the user agrees: `--yes`, or "y" at a terminal (asked on stderr, so a
    --json stdout stays clean). With no terminal to ask, a usage error (exit 2) that says to
    pass --yes, never a hang; "no" ends the command with nothing done (exit 1)."""
    if yes:
        return
    from llmos._internal.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(
            f"{question.rstrip('?')}: not confirmed, and there is no terminal to ask",
            hint="Pass --yes to confirm.",
        )
    if not typer.confirm(question, err=True):
        from llmos._internal.cli.terminal import terminal

        terminal(stderr=True).print("nothing done", markup=False)
        raise typer.Exit(1)


def require_project(ws: Workspace, name: str) -> str:
    """`name` if it is a project of `ws`, else a usage error: every `--project` is checked
    by llmos/_internal/projects/store.py's `require_project`, imported when called so that a
    command's `--help` loads no YAML."""
    from llmos._internal.projects.store import require_project as check

    return check(ws, name)


def finite(value: float | None) -> float | None:
    """An option's callback: `nan` and `inf` are not amounts of money or seconds (click's
    ranges let them through: every comparison with nan is false)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
