"""`llmos doctor`: check the workspace; `--repair` fixes what can be fixed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from llmos.cli.options import JsonOption, WorkspaceOption
from llmos.cli.terminal import terminal
from llmos.text import safe_text

_STYLE = {"ok": "green", "warning": "yellow", "problem": "bold red", "repaired": "cyan"}


def doctor(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Fix what can be fixed: rebuild a damaged or missing ledger, audit trail or "
            "schedule from its journal (state/journal/), rebuild damaged indexes from the "
            "files, record runs a killed llmos left unfinished, delete half-written files. "
            "What is replaced is moved aside, never deleted.",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check the workspace and the machine; --repair fixes what it can (databases from their
    journals, indexes from the files, runs a killed llmos left).

    Checked: the databases and their journals, the indexes, runs a killed llmos left
    unrecorded, half-written files, free space. Exit 0 when nothing is wrong (or all was
    repaired), 1 when a problem remains."""
    from llmos.repair import run_checks
    from llmos.workspace import Workspace

    ws = Workspace.open(workspace)  # no database is opened: a damaged one is a finding
    findings = run_checks(ws, repair=repair)
    if as_json:
        data = {"workspace": str(ws.root), "findings": [f.to_dict() for f in findings]}
        typer.echo(json.dumps(data, indent=2))
    else:
        table = Table("check", "status", "detail", "fix")
        for finding in findings:
            table.add_row(
                safe_text(finding.check),
                safe_text(finding.status, style=_STYLE[finding.status]),
                safe_text(finding.detail),
                safe_text(finding.fix or ""),
            )
        console = terminal()
        console.print(table)
        if any(f.status == "problem" for f in findings) and not repair:
            console.print("Run `llmos doctor --repair` to fix what can be fixed.", markup=False)
    if any(f.status == "problem" for f in findings):
        raise typer.Exit(1)
