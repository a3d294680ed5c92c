"""Options shared by several commands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from llmos.workspace import Workspace

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
    bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
]


def open_workspace(path: Path | None, *, writes: str | None = None) -> Workspace:
    """The workspace a command works in, checked (`Workspace.open`); then what a killed llmos
    process left in it is settled, and said once (`llmos/recovery.py`). A command that
    `writes` (what it does, for the message) is refused up front in a read-only workspace."""
    from llmos.workspace import Workspace  # not at import time: keeps --help fast

    ws = Workspace.open(path)
    if writes is not None:
        ws.require_writable(writes)
    if not ws.read_only:
        settle_leftovers(ws)
    return ws


def settle_leftovers(ws: Workspace) -> None:
    from llmos import recovery

    recovery.activate(ws.state_dir)
    if not recovery.dead_leases(ws.state_dir):
        return
    settled = recovery.settle(
        ws.state_dir, db_path=ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd
    )
    if settled:
        from llmos.cli.terminal import terminal
        from llmos.text import clean

        err = terminal(stderr=True)
        for run in settled:
            err.print(f"note: {clean(run.describe(), keep_newlines=False)}", markup=False)


def finite(value: float | None) -> float | None:
    """An option's callback: `nan` and `inf` are not amounts of money or seconds (click's
    ranges let them through: every comparison with nan is false)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
