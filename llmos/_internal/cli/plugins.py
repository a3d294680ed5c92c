"""`llmos plugins`: the plugins llmos finds, what they provide, and why any failed to load."""

from __future__ import annotations

from typing import Any

import typer

from llmos._internal.cli.json_output import print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.table import Column, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.text import escape

plugins_app = typer.Typer(
    help=(
        "Plugins: Python modules in the workspace's plugins/ folder, or installed packages "
        "with an `llmos.plugins` entry point, that add tools, event hooks and agents."
    ),
    no_args_is_help=True,
)


@plugins_app.callback()
def _group() -> None:
    """Keeps `plugins` a command group (typer would make a lone command the group itself)."""


@plugins_app.command("list")
def list_(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List each plugin with its tools (and their versions), hooks and agents, and each
    plugin that failed to load with its error. A broken plugin is reported, never fatal."""
    from llmos._internal.projects.scope import ENTRY_POINT_CACHE, workspace_plugins

    ws = open_workspace(workspace)
    (ws.state_dir / ENTRY_POINT_CACHE).unlink(missing_ok=True)  # look again, not at the cache
    registry = workspace_plugins(ws)
    plugins: list[dict[str, Any]] = [
        {
            "name": p.plugin.name,
            "description": p.plugin.description,
            "source": p.source,
            "tools": [
                {"name": t.name, "mcp_name": t.full_name, "version": t.version, "kind": t.kind}
                for t in p.plugin.tools
            ],
            "hooks": [{"name": h.name, "events": sorted(h.kinds) or ["*"]} for h in p.plugin.hooks],
            "agents": [a.name for a in p.plugin.agents],
            # Governance rules (llmos/_internal/governance): checkers, routers, evaluators.
            "governance": [
                f"{what} {rule.name}"
                for what, rules in (
                    ("checker", p.plugin.checkers),
                    ("router", p.plugin.routers),
                    ("evaluator", p.plugin.evaluators),
                )
                for rule in rules
            ],
        }
        for p in registry.plugins
    ]
    failed = [{"source": f.source, "error": f.error} for f in registry.failures]
    if as_json:
        print_listing("plugins", plugins, folder=str(ws.plugins_dir), failed=failed)
        return
    console = terminal()
    print_table(
        [
            Column("plugin"),
            Column("description", prose=True),
            Column("tools (version)", prose=True),
            Column("hooks and governance", prose=True),
            Column("agents", prose=True),
            Column("from"),
        ],
        [
            (
                p["name"],
                p["description"],
                ", ".join(f"{t['name']} {t['version']} ({t['kind']})" for t in p["tools"]) or "-",
                ", ".join(
                    [f"{h['name']} ({', '.join(h['events'])})" for h in p["hooks"]]
                    + p["governance"]
                )
                or "-",
                ", ".join(p["agents"]) or "-",
                p["source"],
            )
            for p in plugins
        ],
        empty=None if failed else f"No plugins. Put one in {ws.plugins_dir}/ (see plugins/).",
        console=console,
    )
    err = terminal(stderr=True)
    for f in failed:
        err.print(
            f"[bold red]failed[/] {escape(f['source'])}: {escape(f['error'])}", soft_wrap=True
        )
