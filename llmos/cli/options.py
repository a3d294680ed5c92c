"""Options shared by several commands."""

from __future__ import annotations

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


def open_workspace(path: Path | None) -> Workspace:
    from llmos.workspace import Workspace  # not at import time: keeps --help fast

    return Workspace.open(path)
