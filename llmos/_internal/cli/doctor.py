"""`llmos doctor`: check the machine and the workspace (llmos/_internal/doctor.py holds the checks);
`--repair` fixes what can be fixed (llmos/_internal/repair.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmos._internal.cli.json_output import print_listing
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.table import Column, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.text import safe_text

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


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
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="Also try the model API with one count_tokens request (otherwise no check "
            "reaches the network).",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check the machine and the workspace: the OS sandbox (by canaries), the Claude Code
    CLI, model access, settings, policy files, the databases and their journals, the indexes,
    runs a killed llmos left unrecorded, half-written files.

    The sandbox's canaries must fail to write outside their working folder and to reach the
    network, and its process limit must hold. Model access: credentials present (tried with
    one request only with --network). Without --repair nothing in the workspace is changed.

    Exit status: 0 when every check passed or only warned (or what failed was repaired), 1
    when one failed."""
    from llmos._internal.doctor import Checkup, run_checks
    from llmos._internal.workspace import Workspace

    ws = Workspace.open(workspace)  # no database is opened: a damaged one is a finding
    findings = run_checks(Checkup(ws, network=network, repair=repair))
    failed = [f for f in findings if f.status == "fail"]
    if as_json:
        checks = [f.to_dict() for f in findings]
        print_listing("checks", checks, workspace=str(ws.root), ok=not failed)
    else:
        console = terminal()
        print_table(
            [
                Column("check"),
                Column("status"),
                Column("detail", prose=True),
                Column("hint", prose=True),
            ],
            [
                (
                    finding.check,
                    safe_text(finding.status, style=_STYLE[finding.status]),
                    finding.detail,
                    finding.hint or "",
                )
                for finding in findings
            ],
            console=console,
        )
        warned = sum(f.status == "warn" for f in findings)
        verdict = f"{len(failed)} failed" if failed else "nothing failed"
        console.print(f"{verdict}, {warned} warning(s)", markup=False)
        if failed and not repair:
            console.print("Run `llmos doctor --repair` to fix what can be fixed.", markup=False)
    if failed:
        raise typer.Exit(1)
