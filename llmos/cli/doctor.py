"""`llmos doctor`: check the machine and the workspace (llmos/doctor.py holds the checks)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace
from llmos.cli.terminal import terminal

_MARK = {
    "ok": "[green]ok[/]  ",
    "warn": "[yellow]warn[/]",
    "fail": "[red]FAIL[/]",
    "skip": "[dim]skip[/]",
}


def doctor(
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
    CLI, model access, folders, settings, policy files and databases.

    The sandbox's canaries must fail to write outside their working folder and to reach the
    network, and its process limit must hold. Model access: credentials present (tried with
    one request only with --network). Nothing in the workspace is changed.

    Exit status: 0 when every check passed or only warned, 1 when one failed."""
    from llmos.doctor import Checkup, run_checks

    ws = open_workspace(workspace)
    findings = run_checks(Checkup(ws, network=network))
    failed = [f for f in findings if f.status == "fail"]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "workspace": str(ws.root),
                    "ok": not failed,
                    "checks": [f.to_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        console = terminal()
        console.print(f"[bold]llmos doctor[/] {escape(str(ws.root))}")
        for finding in findings:
            console.print(f"  {_MARK[finding.status]} {finding.check}: {escape(finding.detail)}")
            if finding.hint and finding.status in ("warn", "fail"):
                console.print(f"         [dim]{escape(finding.hint)}[/]")
        warned = sum(f.status == "warn" for f in findings)
        verdict = f"[red]{len(failed)} failed[/]" if failed else "[green]nothing failed[/]"
        console.print(f"{verdict}, {warned} warning(s)")
    if failed:
        raise typer.Exit(1)
