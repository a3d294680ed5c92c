"""`llmos status`: the workspace at a glance."""

from __future__ import annotations

from typing import Any

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.table import print_fields


def status(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Show the workspace, the balance and counts of traces, projects and sessions."""
    from llmos._internal.kernel.economy import TokenEconomy
    from llmos._internal.memory.trace_store import TraceStore

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
            "sandbox": _sandbox(ws.settings.sandbox),
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
            ("sandbox", _sandbox_line(info["sandbox"])),
        ]
    )


def _sandbox(setting: str) -> dict[str, Any]:
    """The sandbox setting and whether this machine can honour it (as a run finds it: the
    canary's remembered result; `llmos doctor` runs them all afresh)."""
    from llmos._internal.security.sandbox_probe import cli_sandbox, replay_sandbox_remembered

    replay, learner = replay_sandbox_remembered(), cli_sandbox(remembered=True)
    return {
        "setting": setting,
        "replay": replay.ok,
        "learner": learner.ok,
        "detail": replay.detail if not replay.ok else learner.detail,
    }


def _sandbox_line(info: dict[str, Any]) -> str:
    if info["setting"] == "off":
        return "off (sandbox: off in config.yaml; imported traces still replay only inside it)"
    if info["replay"] and info["learner"]:
        return f"{info['setting']}: on ({info['detail']})"
    where = "replays" if info["learner"] else "Learner runs" if info["replay"] else "commands"
    word = "refused" if info["setting"] == "required" else "run without it"
    return (
        f"{info['setting']}: not available for {where} ({info['detail']}): "
        f"they are {word}; see `llmos doctor`"
    )
