"""`llmos insights`: what the workspace has learned, across projects (ledger + traces)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace
from llmos.cli.terminal import terminal
from llmos.text import escape


def insights(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Rows per table (traces, goals).")
    ] = 10,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Across projects: spend per project and mode, money saved by Follower runs, the most
    reused traces, success rates per tool and per agent, agents worth reusing (success >= 0.8
    over >= 3 uses), goals that keep failing, and governance: evaluators' scores, checkers
    that denied calls or sent runs back, routes taken."""
    from llmos.memory.insight_report import build_report

    report = build_report(open_workspace(workspace), limit=limit)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print(report)


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _short(text: Any, limit: int = 60) -> str:
    flat = " ".join(str(text or "").split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _print(report: dict[str, Any]) -> None:
    console = terminal()
    if not report["runs"] and not report["tools"]:
        console.print('Nothing to report yet: run a goal with `llmos run "goal"`.')
        return
    console.print(
        f"[bold]{report['runs']} run(s)[/]: spent {_usd(report['spent_usd'])}; Follower runs "
        f"({report['follower_runs']}) saved {_usd(report['saved_by_follower_usd'])}"
    )
    for key, title in (("by_project", "project"), ("by_mode", "mode")):
        table = Table(title, "runs", "success", "spent", "saved", title=f"Spend per {title}")
        for row in report[key]:
            table.add_row(
                escape(row[title]),
                str(row["runs"]),
                _pct(row["success_rate"]),
                _usd(row["spent_usd"]),
                _usd(row["saved_usd"]),
            )
        console.print(table)
    _print_traces(console, report["most_reused_traces"])
    tools = Table("tool", "calls", "ok", "success", "traces", title="Tools (trace steps)")
    for row in report["tools"]:
        tools.add_row(
            escape(row["tool"]),
            str(row["calls"]),
            str(row["ok"]),
            _pct(row["success_rate"]),
            str(row["traces"]),
        )
    console.print(tools)
    agents = Table("agent", "uses", "success", "spent", "from", "reuse?", title="Agents")
    worth = {a["agent"] for a in report["agents_worth_reusing"]}
    for row in report["agents"]:
        agents.add_row(
            escape(row["agent"]),
            str(row["uses"]),
            _pct(row["success_rate"]),
            _usd(row["spent_usd"]),
            ", ".join(row["from"]),
            "[green]yes[/]" if row["agent"] in worth else "",
        )
    console.print(agents if report["agents"] else "[dim]No agents used yet.[/]")
    _print_failing(console, report["failing_goals"])
    _print_governance(console, report["governance"])


def _print_traces(console: Console, traces: list[dict[str, Any]]) -> None:
    if not traces:
        console.print("[dim]No trace has been reused yet.[/]")
        return
    table = Table(
        "id", "goal", "project", "uses", "rating", "replays", "saved", title="Most reused traces"
    )
    for row in traces:
        table.add_row(
            row["id"],
            _short(row["goal"]),
            escape(row["project"]),
            str(row["uses"]),
            f"{row['success_rating']:.2f}",
            str(row["replays"]),
            _usd(row["saved_usd"]),
        )
    console.print(table)


def _print_failing(console: Console, goals: list[dict[str, Any]]) -> None:
    if not goals:
        console.print("[dim]No goal keeps failing.[/]")
        return
    table = Table("goal", "failures", "attempts", "last", "error", title="Goals that keep failing")
    for row in goals:
        table.add_row(
            _short(row["goal"], 50),
            str(row["failures"]),
            str(row["attempts"]),
            escape(str(row["last_status"])),
            _short(row["last_error"], 50),
        )
    console.print(table)


def _print_governance(console: Console, report: dict[str, Any]) -> None:
    """Evaluators' scores, checkers that denied or sent runs back, routes (llmos/governance)."""
    if report["evaluators"]:
        table = Table(
            "evaluator", "runs", "passed", "failed", "mean", "gate", title="Evaluators (runs)"
        )
        for row in report["evaluators"]:
            mean = "-" if row["mean_score"] is None else f"{row['mean_score']:.2f}"
            table.add_row(
                escape(row["evaluator"]),
                str(row["runs"]),
                str(row["passed"]),
                str(row["failed"]),
                mean,
                "yes" if row["gate"] else "",
            )
        console.print(table)
    if report["checkers"]:
        table = Table("checker", "denied calls", "sent back", title="Governance checkers")
        for row in report["checkers"]:
            table.add_row(escape(row["checker"]), str(row["denied"]), str(row["sent_back"]))
        console.print(table)
    if report["routes"]:
        table = Table("router", "action", "taken", title="Governance routes")
        for row in report["routes"]:
            table.add_row(escape(row["router"]), escape(row["action"]), str(row["taken"]))
        console.print(table)
    if report["statuses"]:
        shown = ", ".join(f"{n} {escape(s)}" for s, n in sorted(report["statuses"].items()))
        console.print(f"Runs governance ended: {shown}")
