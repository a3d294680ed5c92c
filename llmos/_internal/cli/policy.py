"""`llmos policy`: the security policy in effect, the decision on commands, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, require_project
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import UsageError
from llmos._internal.text import escape, safe_text

if TYPE_CHECKING:
    from llmos._internal.security.policy import Policy
    from llmos._internal.workspace import Workspace

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
    from llmos._internal.security.policy import load_policy

    ws = open_workspace(workspace)
    return ws, load_policy(ws.root, require_project(ws, project))


@policy_app.command("show")
def show(
    project: ProjectOption = "default",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print the policy in effect: the files it comes from, the hard rules, what each soft
    rule does, and the deny, ask and allow lists (with the file each entry comes from)."""
    ws, policy = _load(workspace, project)
    # checked too: a bad entry is an error
    from llmos._internal.governance.policy import load_governance

    governance = load_governance(ws.root, project).to_dict()
    data = {
        "workspace": str(ws.root),
        "project": project,
        **policy.to_dict(),
        "governance": governance,
    }
    if as_json:
        print_json(data)
        return
    console = terminal()
    console.print(
        f"[bold]security policy[/] of project {escape(project)} in {escape(str(ws.root))}",
        soft_wrap=True,
    )
    print_table(
        [Column("file"), Column("path"), Column("found")],
        [(f["layer"], f["path"], "yes" if f["found"] else "no") for f in data["files"]],
        console=console,
    )
    console.print()
    print_table(
        [Column("hard rule"), Column("action"), Column("means", prose=True)],
        [
            (rule, safe_text("deny", style="red"), means)
            for rule, means in data["hard_rules"].items()
        ],
        title="hard rules (always deny; no policy file changes them)",
        console=console,
    )
    console.print()
    print_table(
        [
            Column("soft rule"),
            Column("action"),
            Column("set by"),
            Column("choices"),
            Column("means", prose=True),
        ],
        [
            (
                rule,
                safe_text(info["action"], style=_STYLE[info["action"]]),
                info["set_by"],
                "/".join(info["choices"]),
                info["means"],
            )
            for rule, info in data["rules"].items()
        ],
        title="soft rules (set each in policy.yaml: rules: {NAME: deny|ask|allow})",
        console=console,
    )
    console.print()
    print_table(
        [Column("list"), Column("kind"), Column("pattern"), Column("from")],
        [
            (safe_text(action, style=_STYLE[action]), kind, entry["pattern"], entry["layer"])
            for action in ("deny", "ask", "allow")
            for kind, entries in data[action].items()
            for entry in entries
        ],
        title="deny, ask and allow lists",
        empty="deny, ask and allow lists: all empty",
        console=console,
    )
    console.print()
    print_table(
        [Column("domain"), Column("from")],
        [(entry["domain"], entry["layer"]) for entry in data["network"]["allow"]],
        title="network of sandboxed commands (`llmos doctor` checks the sandbox)",
        empty="network of sandboxed commands: none allowed (no network)",
        console=console,
    )
    console.print()
    print_table(
        [Column("guarded path")],
        [(path,) for path in data["guarded"]],
        title="llmos's own files (guarded: no tool call may change them)",
        console=console,
    )
    _print_governance(governance)


def _print_governance(governance: dict[str, Any]) -> None:
    """The `governance:` sections in effect (llmos/_internal/governance/policy.py)."""
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
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The policy's decision on each command (allow, ask or deny), one line per command, in
    order: the decision, the command, [the rule] and the reason. Nothing is run. Exit
    status: 0 when every command is allowed, 1 otherwise."""
    from llmos._internal.security.policy import check_command

    if commands == ["-"]:
        commands = [line for line in sys.stdin.read().splitlines() if line.strip()]
    elif "-" in commands:
        raise UsageError("`-` (read commands from standard input) must be the only argument")
    if not commands:
        raise UsageError("no command to check", hint="llmos policy check 'rm -rf build'")
    ws, policy = _load(workspace, project)
    workdir = (cwd or ws.projects_dir / project / "output").expanduser().resolve()
    all_allowed = True
    decisions = []
    for command in commands:
        decision = check_command(command, workdir=workdir, policy=policy)
        all_allowed = all_allowed and decision.allowed
        if as_json:
            decisions.append({"command": command, **decision.to_dict()})
        else:  # a line each, as it is decided: whole, whatever the terminal's width
            flat = " ".join(command.split())
            reason = " ".join(decision.reason.split())
            typer.echo(f"{decision.action:<5} {flat}  [{decision.rule}] {reason}")
    if as_json:
        print_listing("decisions", decisions, all_allowed=all_allowed)
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
    from llmos._internal.security.audit import AuditLog

    ws = open_workspace(workspace)
    entries = AuditLog(ws.audit_db_path).entries(run=run, limit=limit)
    if as_json:
        print_listing("entries", [e.to_dict() for e in entries])
        return
    rows = []
    for e in entries:
        decision = safe_text(e.decision, style=_STYLE.get(e.decision, ""))
        if e.policy_decision != e.decision:
            decision = safe_text(
                f"{e.policy_decision} → {e.decision}", style=_STYLE.get(e.decision, "")
            )
        rows.append(
            (
                dt.datetime.fromtimestamp(e.at).strftime("%Y-%m-%d %H:%M:%S"),
                e.run_id,
                e.source,
                e.tool,
                " ".join(_input_text(e.input).split()),
                decision,
                e.rule,
                e.approved_by or "",
            )
        )
    print_table(
        [
            moment("time"),
            Column("run"),
            Column("source"),
            Column("tool"),
            Column("input", prose=True),
            Column("decision"),
            Column("rule"),
            Column("approved by"),
        ],
        rows,
        empty="no decisions recorded yet",
    )


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
