"""`llmos insights`: what the workspace has learned, across projects (ledger + traces)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.table import Column, number, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.text import safe_text

if TYPE_CHECKING:
    from rich.console import Console


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
    from llmos._internal.engine.insight_report import build_report

    report = build_report(open_workspace(workspace), limit=limit)
    if as_json:
        print_json(report)
        return
    _print(report)


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _flat(text: Any) -> str:
    return " ".join(str(text or "").split())


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
        print_table(
            [
                Column(title),
                number("runs"),
                number("success"),
                number("spent"),
                number("saved"),
            ],
            [
                (
                    row[title],
                    row["runs"],
                    _pct(row["success_rate"]),
                    _usd(row["spent_usd"]),
                    _usd(row["saved_usd"]),
                )
                for row in report[key]
            ],
            title=f"Spend per {title}",
            console=console,
        )
    print_table(
        [
            Column("id"),
            Column("goal", prose=True),
            Column("project"),
            number("uses"),
            number("rating"),
            number("replays"),
            number("saved"),
        ],
        [
            (
                row["id"],
                _flat(row["goal_text"]),
                row["project"],
                row["usage_count"],
                f"{row['success_rating']:.2f}",
                row["replays"],
                _usd(row["saved_usd"]),
            )
            for row in report["most_reused_traces"]
        ],
        title="Most reused traces",
        empty="No trace has been reused yet.",
        console=console,
    )
    print_table(
        [
            Column("tool"),
            number("calls"),
            number("ok"),
            number("success"),
            number("traces"),
        ],
        [
            (row["tool"], row["calls"], row["ok"], _pct(row["success_rate"]), row["traces"])
            for row in report["tools"]
        ],
        title="Tools (trace steps)",
        console=console,
    )
    worth = {a["agent"] for a in report["agents_worth_reusing"]}
    print_table(
        [
            Column("agent"),
            number("uses"),
            number("success"),
            number("spent"),
            Column("from"),
            Column("reuse?"),
        ],
        [
            (
                row["agent"],
                row["uses"],
                _pct(row["success_rate"]),
                _usd(row["spent_usd"]),
                ", ".join(row["from"]),
                safe_text("yes", style="green") if row["agent"] in worth else "",
            )
            for row in report["agents"]
        ],
        title="Agents",
        empty="No agents used yet.",
        console=console,
    )
    print_table(
        [
            Column("goal", prose=True),
            number("failures"),
            number("attempts"),
            Column("last"),
            Column("error", prose=True),
        ],
        [
            (
                _flat(row["goal"]),
                row["failures"],
                row["attempts"],
                row["last_status"],
                _flat(row["last_error"]),
            )
            for row in report["failing_goals"]
        ],
        title="Goals that keep failing",
        empty="No goal keeps failing.",
        console=console,
    )
    _print_governance(report["governance"], console)


def _print_governance(report: dict[str, Any], console: Console) -> None:
    """Evaluators' scores, checkers that denied or sent runs back, routes
    (llmos/_internal/governance)."""
    print_table(
        [
            Column("evaluator"),
            *(number(name) for name in ("runs", "passed", "failed", "mean")),
            Column("gate"),
        ],
        [
            (
                row["evaluator"],
                row["runs"],
                row["passed"],
                row["failed"],
                "-" if row["mean_score"] is None else f"{row['mean_score']:.2f}",
                "yes" if row["gate"] else "",
            )
            for row in report["evaluators"]
        ],
        title="Evaluators (runs)",
        empty=None,
        console=console,
    )
    print_table(
        [Column("checker"), number("denied calls"), number("sent back")],
        [(row["checker"], row["denied"], row["sent_back"]) for row in report["checkers"]],
        title="Governance checkers",
        empty=None,
        console=console,
    )
    print_table(
        [Column("router"), Column("action"), number("taken")],
        [(row["router"], row["action"], row["taken"]) for row in report["routes"]],
        title="Governance routes",
        empty=None,
        console=console,
    )
    if report["statuses"]:
        shown = ", ".join(f"{n} {s}" for s, n in sorted(report["statuses"].items()))
        console.print(f"Runs governance ended: {shown}", markup=False)
