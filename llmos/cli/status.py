"""`llmos status`: the workspace at a glance."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace
from llmos.cli.terminal import terminal


def status(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Show the workspace, the balance and counts of traces, projects and sessions."""
    from llmos.kernel.economy import TokenEconomy
    from llmos.memory.trace_store import TraceStore

    ws = open_workspace(workspace)
    economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
    try:
        info: dict[str, Any] = {
            "workspace": str(ws.root),
            "balance_usd": round(economy.balance, 6),
            "spent_usd": round(economy.total_spent(), 6),
            "runs": economy.run_count(),
            "traces": TraceStore(ws.traces_dir).count(),
            "projects": len(ws.project_names()),
            "sessions": sum(1 for _ in ws.sessions_dir.glob("*.jsonl")),
        }
    finally:
        economy.close()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("workspace", info["workspace"])
    table.add_row("balance", f"${info['balance_usd']:.4f}")
    table.add_row("spent", f"${info['spent_usd']:.4f} over {info['runs']} run(s)")
    table.add_row("traces", str(info["traces"]))
    table.add_row("projects", str(info["projects"]))
    table.add_row("sessions", str(info["sessions"]))
    terminal().print(table)
