"""`llmos doctor`: check the workspace; `--repair` fixes what can be fixed."""

from __future__ import annotations

from typing import Annotated

import typer

from llmos.cli.json_output import print_json
from llmos.cli.options import JsonOption, WorkspaceOption
from llmos.cli.table import Column, print_table
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
        findings_data = [f.to_dict() for f in findings]
        print_json(
            {"workspace": str(ws.root), "findings": findings_data, "count": len(findings_data)}
        )
    else:
        console = terminal()
        print_table(
            [
                Column("check"),
                Column("status"),
                Column("detail", prose=True),
                Column("fix", prose=True),
            ],
            [
                (
                    finding.check,
                    safe_text(finding.status, style=_STYLE[finding.status]),
                    finding.detail,
                    finding.fix or "",
                )
                for finding in findings
            ],
            console=console,
        )
        if any(f.status == "problem" for f in findings) and not repair:
            console.print("Run `llmos doctor --repair` to fix what can be fixed.", markup=False)
    if any(f.status == "problem" for f in findings):
        raise typer.Exit(1)
