"""`llmos init [DIR]`: make a folder an llmos workspace, on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.options import JsonOption
from llmos._internal.cli.terminal import terminal


def init(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="The folder (default: $LLMOS_HOME, else ~/.llmos).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a folder an llmos workspace, even one that holds other files.

    Every other command refuses a folder that holds files of its own and is no workspace,
    so that a mistyped --workspace never scatters llmos's files (config, agents, memory,
    state) into it. Files already there are kept. System folders (/, /etc, /usr...) are
    always refused."""
    from llmos._internal.workspace import Workspace, default_root

    existed = ((folder or default_root()).expanduser() / "config.yaml").exists()
    ws = Workspace.open(folder, init=True)
    if as_json:
        print_json({"workspace": str(ws.root), "created": not existed})
        return
    verb = "is already" if existed else "is now"
    terminal().print(f"{ws.root} {verb} an llmos workspace", markup=False)
