"""`llmos status`: the workspace at a glance."""

from __future__ import annotations

from typing import Any

from llmos.cli.json_output import print_json
from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace
from llmos.cli.table import print_fields


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
        print_json(info)
        return
    print_fields(
        [
            ("workspace", info["workspace"]),
            ("balance", f"${info['balance_usd']:.4f}"),
            ("spent", f"${info['spent_usd']:.4f} over {info['runs']} run(s)"),
            ("traces", info["traces"]),
            ("projects", info["projects"]),
            ("sessions", info["sessions"]),
        ]
    )
