"""`llmos project`: create, list, show and remove projects (llmos/_internal/projects/)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, YesOption, confirm
from llmos._internal.cli.table import Column, moment, print_fields, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.text import escape, safe_text

if TYPE_CHECKING:
    from llmos._internal.projects.scope import RunScope
    from llmos._internal.projects.store import Project
    from llmos._internal.workspace import Workspace

project_app = typer.Typer(
    help=(
        "Projects: each has its own working folder (output/), memory, agents, settings, "
        "plugins, security policy (policy.yaml) and budget. Run a goal in one with "
        "`llmos run -p NAME`."
    ),
    no_args_is_help=True,
)
Name = Annotated[str, typer.Argument(help="The project's name.", metavar="NAME")]


def _named(name: str) -> str:
    from llmos._internal.workspace import validate_project_name

    return validate_project_name(name)  # before the workspace is even opened: nothing made


@project_app.command("create")
def create(
    name: Name,
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the project is for.")
    ] = "",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a project: projects/NAME/ with output/, memory/, components/ and project.yaml."""
    from llmos._internal.projects.store import create_project

    _named(name)
    ws = open_workspace(workspace, writes="create a project")
    project = create_project(ws, name, description=description)
    if as_json:
        print_json(project.to_dict())
        return
    console = terminal()
    console.print(
        f"created project [bold]{escape(name)}[/] in {escape(str(project.root))}", soft_wrap=True
    )
    console.print(f'run a goal in it: llmos run -p {name} "goal"', markup=False)


def _facts(ws: Workspace) -> tuple[dict[str, Any], dict[str, int]]:
    """Each project's ledger usage and budget, and its trace count."""
    from llmos._internal.kernel.economy import TokenEconomy
    from llmos._internal.memory.trace_index import TraceIndex

    economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
    index = TraceIndex(ws.state_dir / "index.db", ws.traces_dir)
    try:
        spent = economy.project_usage()
        usage: dict[str, Any] = {
            name: {"usage": spent.get(name), "budget": economy.project_budget(name)}
            for name in ws.project_names()
        }
        traces: dict[str, int] = {}
        for entry in index.listing(limit=10**9):
            traces[entry.project] = traces.get(entry.project, 0) + 1
    finally:
        index.close()
        economy.close()
    return usage, traces


def _row(project: Project, usage: dict[str, Any], traces: dict[str, int]) -> dict[str, Any]:
    facts = usage.get(project.name, {})
    used = facts.get("usage")
    return {
        **project.to_dict(),
        "runs": used.runs if used else 0,
        "spent_usd": round(used.spent_usd, 6) if used else 0.0,
        "last_run_at": used.last_run_at if used else None,
        "traces": traces.get(project.name, 0),
        "budget_left_usd": facts.get("budget"),
    }


def _when(at: float | None) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") if at else ""


@project_app.command("list")
def list_(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List projects with their runs, traces, spend and what is left of their budget."""
    from llmos._internal.projects.store import list_projects

    ws = open_workspace(workspace)
    usage, traces = _facts(ws)
    rows = [_row(p, usage, traces) for p in list_projects(ws)]
    if as_json:
        print_listing("projects", rows)
        return
    print_table(
        [
            Column("name"),
            Column("description", prose=True),
            Column("runs", justify="right"),
            Column("traces", justify="right"),
            Column("spent", justify="right"),
            Column("budget left", justify="right"),
            moment("last run"),
        ],
        [
            (
                r["name"],
                safe_text(r["problem"], style="red") if r["problem"] else r["description"],
                r["runs"],
                r["traces"],
                f"${r['spent_usd']:.4f}",
                "-" if r["budget_left_usd"] is None else f"${r['budget_left_usd']:.4f}",
                _when(r["last_run_at"]),
            )
            for r in rows
        ],
        empty="No projects yet: `llmos project create NAME`.",
    )


@project_app.command("show")
def show(name: Name, as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Show a project: its folder, settings, budget, runs, agents and the tools its runs get."""
    from llmos._internal.agents.spec import DEFAULT_TOOLS
    from llmos._internal.projects.scope import enter_project

    _named(name)
    ws = open_workspace(workspace)
    scope = enter_project(ws, name, create=False)
    usage, traces = _facts(ws)
    info = _row(scope.project, usage, traces)
    info["tools"] = list(scope.tools.offered(DEFAULT_TOOLS))  # what its Learner runs get
    info["plugin_tools"] = [
        {"name": t.full_name, "version": t.version} for t in scope.tools.registry.tools()
    ]
    info["agents"] = _agents(scope)
    if as_json:
        print_json(info)
        return
    left = info["budget_left_usd"]
    plugins = info["plugins"]
    fields = [
        (label, str(value))
        for label, value in (
            ("project", info["name"]),
            ("folder", info["path"]),
            ("description", info["description"]),
            ("created", info["created_at"].replace("T", " ")[:19]),
            ("runs", f"{info['runs']} (last {_when(info['last_run_at']) or 'never'})"),
            ("spent", f"${info['spent_usd']:.4f}"),
            ("budget left", "none set (the balance limits it)" if left is None else f"${left:.4f}"),
            ("traces", str(info["traces"])),
            (
                "settings",
                ", ".join(f"{k}={v}" for k, v in info["settings"].items()) or "workspace's",
            ),
            ("plugins", "all" if plugins is None else ", ".join(plugins) or "none"),
            ("tools", ", ".join(info["tools"])),
            ("plugin tools", ", ".join(t["name"] for t in info["plugin_tools"]) or "none"),
            ("agents", ", ".join(info["agents"]) or "none"),
        )
    ]
    print_fields(fields)


def _agents(scope: RunScope) -> list[str]:
    """The agents its runs may delegate to: agent files, and the agents of its plugins."""
    from llmos._internal.agents.catalog import load_catalog

    agents = scope.tools.registry.agents()
    return load_catalog(scope.ws, scope.project.name, plugin_agents=agents).names()


@project_app.command("rm")
def remove(
    name: Name,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delete a project's folder (its output, memory and agents) and its budget (asks
    first, unless --yes). Its traces and its runs in the ledger stay: they are the
    workspace's memory and history."""
    from llmos._internal.kernel.economy import TokenEconomy
    from llmos._internal.projects.store import load_project, remove_project

    _named(name)
    ws = open_workspace(workspace, writes="remove a project")
    project = load_project(ws, name) if name != "default" else None
    if project is None:
        remove_project(ws, name)  # refuses, with the reason
        return
    confirm(f"Delete project {name} and everything in {project.root}?", yes=yes)
    remove_project(ws, name)
    economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
    try:
        economy.clear_project_budget(name)
    finally:
        economy.close()
    if as_json:
        print_json({**project.to_dict(), "deleted": True})
    else:
        terminal().print(f"deleted project {escape(name)}")
