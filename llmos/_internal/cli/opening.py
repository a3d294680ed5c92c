"""Opening the workspace a command works in (no typer here: `llmos run`'s quick path uses it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmos._internal.workspace import Workspace


def open_workspace(path: Path | None, *, writes: str | None = None) -> Workspace:
    """The workspace a command works in, checked (`Workspace.open`); then what a killed llmos
    process left in it is settled, and said once (`llmos/_internal/recovery.py`). A command that
    `writes` (what it does, for the message) is refused up front in a read-only workspace."""
    from llmos._internal.workspace import Workspace  # not at import time: keeps --help fast

    ws = Workspace.open(path)
    ws.settings  # noqa: B018  # config.yaml is checked before anything else happens
    if writes is not None:
        ws.require_writable(writes)
    if not ws.read_only:
        settle_leftovers(ws)
    return ws


def settle_leftovers(ws: Workspace) -> None:
    from llmos._internal import recovery

    recovery.activate(ws.state_dir)
    if not recovery.dead_leases(ws.state_dir):
        return
    from llmos._internal.engine.settle import settle  # only when a dead process left a lease

    settled = settle(
        ws.state_dir, db_path=ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd
    )
    if settled:
        from llmos._internal.cli.terminal import terminal
        from llmos._internal.text import clean

        err = terminal(stderr=True)
        for run in settled:
            err.print(f"note: {clean(run.describe(), keep_newlines=False)}", markup=False)
