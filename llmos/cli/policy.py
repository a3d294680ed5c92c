"""`llmos policy`: the security policy in effect, the decision on commands, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace
from llmos.cli.terminal import terminal
from llmos.errors import UsageError
from llmos.text import escape

if TYPE_CHECKING:
    from llmos.security.policy import Policy
    from llmos.workspace import Workspace

policy_app = typer.Typer(
    help=(
        "The security policy: show the one in effect, check commands against it, list the "
        "audit trail of its decisions. Tune it in <workspace>/policy.yaml (or make one project "
        "stricter in projects/NAME/policy.yaml)."
    ),
    no_args_is_help=True,
)
ProjectOption = Annotated[
    str, typer.Option("--project", "-p", help="The project whose policy applies.")
]
_STYLE = {"allow": "green", "ask": "yellow", "deny": "red"}


def _load(workspace: Path | None, project: str) -> tuple[Workspace, Policy]:
    from llmos.security.policy import load_policy
    from llmos.workspace import validate_project_name

    ws = open_workspace(workspace)
    return ws, load_policy(ws.root, validate_project_name(project))


@policy_app.command("show")
def show(
    project: ProjectOption = "default",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print the policy in effect: the files it comes from, the hard rules, what each soft
    rule does, and the deny, ask and allow lists (with the file each entry comes from)."""
    ws, policy = _load(workspace, project)
    from llmos.governance.policy import load_governance  # checked too: a bad entry is an error

    governance = load_governance(ws.root, project).to_dict()
    data = {
        "workspace": str(ws.root),
        "project": project,
        **policy.to_dict(),
        "governance": governance,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = terminal()
    console.print(
        f"[bold]security policy[/] of project {escape(project)} in {escape(str(ws.root))}"
    )
    for entry in data["files"]:
        found = "" if entry["found"] else " [dim](none)[/]"
        console.print(f"  {entry['layer']}: {escape(entry['path'])}{found}")
    console.print("\n[bold]hard rules[/] (always deny; no policy file changes them)")
    for rule, means in data["hard_rules"].items():
        console.print(f"  [red]deny[/]  {rule}: [dim]{escape(means)}[/]")
    table = Table("soft rule", "action", "set by", "choices", "means", box=None, padding=(0, 2))
    for rule, info in data["rules"].items():
        action = info["action"]
        table.add_row(
            rule,
            f"[{_STYLE[action]}]{action}[/]",
            escape(info["set_by"]),
            "/".join(info["choices"]),
            escape(info["means"]),
        )
    console.print()
    console.print(table)
    for action in ("deny", "ask", "allow"):
        console.print(f"\n[bold {_STYLE[action]}]{action}[/] lists")
        for kind, entries in data[action].items():
            shown = ", ".join(f"{e['pattern']} [dim]({e['layer']})[/]" for e in entries)
            console.print(f"  {kind}: {shown or '[dim]none[/]'}")
    console.print("\n[bold]llmos's own files[/] (guarded: no tool call may change them)")
    for path in data["guarded"]:
        console.print(f"  {escape(path)}")
    _print_governance(governance)


def _print_governance(governance: dict[str, Any]) -> None:
    """The `governance:` sections in effect (llmos/governance/policy.py)."""
    console = terminal()
    console.print("\n[bold]governance[/] (checkers, routes, evaluators)")
    for name in governance["checkers"]:
        console.print(f"  checker  {escape(name)}")
    for route in governance["routes"]:
        target = f" {route['target']}" if route["target"] else ""
        console.print(f"  route    {escape(route['name'])} → {escape(route['action'] + target)}")
    if not governance["checkers"] and not governance["routes"]:
        console.print("  [dim]no checkers or routes[/]")
    on = [
        name + (" (gate)" if conf["gate"] else "")
        for name, conf in governance["evaluators"].items()
        if conf["enabled"]
    ]
    console.print(f"  evaluators: {escape(', '.join(on) or 'none')}")
    console.print(f"  a run may be sent back {governance['max_stop_blocks']} time(s) at its end")


@policy_app.command("check")
def check(
    commands: Annotated[
        list[str],
        typer.Argument(
            help="Shell commands, each one argument (quote it). `-` alone: read one command "
            "per line from standard input.",
            metavar="CMD...",
            show_default=False,
        ),
    ],
    cwd: Annotated[
        Path | None,
        typer.Option(
            "--cwd",
            help="The working folder the commands would run in (default: the project's).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = "default",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per command: decision, rule, reason."),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The policy's decision on each command (allow, ask or deny), one line per command, in
    order. Nothing is run. Exit status: 0 when every command is allowed, 1 otherwise."""
    from llmos.memory.trace import one_line
    from llmos.security.policy import check_command

    if commands == ["-"]:
        commands = [line for line in sys.stdin.read().splitlines() if line.strip()]
    elif "-" in commands:
        raise UsageError("`-` (read commands from standard input) must be the only argument")
    if not commands:
        raise UsageError("no command to check", hint="llmos policy check 'rm -rf build'")
    ws, policy = _load(workspace, project)
    workdir = (cwd or ws.projects_dir / project / "output").expanduser().resolve()
    all_allowed = True
    for command in commands:
        decision = check_command(command, workdir=workdir, policy=policy)
        all_allowed = all_allowed and decision.allowed
        if as_json:
            typer.echo(json.dumps({"command": command, **decision.to_dict()}, ensure_ascii=False))
        else:
            line = f"{decision.action:<5} {one_line(command, 200)}  [{decision.rule}] "
            typer.echo(line + decision.reason.replace("\n", " "))
    if not all_allowed:
        raise typer.Exit(1)


@policy_app.command("audit")
def audit(
    run: Annotated[
        str | None,
        typer.Option("--run", "-r", help="Only this run (its id or a prefix).", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The audit trail: the latest decisions of the policy on tool calls, oldest first, with
    what the policy said, what became of it, and who approved it."""
    from llmos.memory.trace import one_line
    from llmos.security.audit import AuditLog

    ws = open_workspace(workspace)
    entries = AuditLog(ws.db_path).entries(run=run, limit=limit)
    if as_json:
        typer.echo(json.dumps({"entries": [e.to_dict() for e in entries]}, indent=2))
        return
    console = terminal()
    if not entries:
        console.print("no decisions recorded yet")
        return
    table = Table("time", "run", "source", "tool", "input", "decision", "rule", "approved by")
    for e in entries:
        said = e.policy_decision
        decision = f"[{_STYLE.get(e.decision, 'white')}]{e.decision}[/]"
        if said != e.decision:
            decision = f"{said} → {decision}"
        table.add_row(
            dt.datetime.fromtimestamp(e.at).strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.run_id),
            e.source,
            e.tool,
            escape(one_line(_input_text(e.input), 50)),
            decision,
            e.rule,
            escape(e.approved_by or ""),
        )
    console.print(table)


def _input_text(raw: str) -> str:
    try:
        value: Any = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict):
        for key in ("command", "file_path", "notebook_path", "path", "pattern"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return raw
