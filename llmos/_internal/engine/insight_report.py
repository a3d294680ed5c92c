"""`llmos insights`: what the whole workspace has learned, across projects.

Read from the ledger (`state/llmos.db`, table `runs`) and the trace files; nothing is
written. The ledger is read defensively: columns other engineers' features add (a run's
`parent_run`, an `agent`) are used when present and never required.

- spend per project and per mode (runs, successes, spent, saved);
- money saved by Follower runs (`runs.saved_usd`: what the replayed traces cost to learn);
- the most reused traces (usage counted on the trace; replays and savings from the ledger);
- success rates per tool (the steps of every trace, each step a call that worked or not);
- success rates per agent: subagents delegated to in traces (`Agent` steps), plus ledger
  rows that name an agent; agents worth reusing have a success rate >= 0.8 over >= 3 uses;
- goals that keep failing: failed at least twice, and the latest attempt failed too.
  Interrupted runs (Ctrl-C, a stopped kernel) count neither way;
- governance (llmos/_internal/governance/report.py): evaluators' scores, the checkers that denied or
  sent back most, routes taken, runs whose status governance set.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.governance.report import governance_report
from llmos._internal.kernel.economy import connect
from llmos._internal.memory.goal_form import goal_signature
from llmos._internal.memory.trace import Trace
from llmos._internal.memory.trace_store import TraceStore
from llmos._internal.workspace import Workspace

REUSE_MIN_USES = 3
REUSE_MIN_RATE = 0.8
FAILING_MIN_FAILURES = 2
_NEUTRAL_STATUSES = frozenset({"interrupted"})
_DELEGATION_TOOLS = frozenset({"Agent", "Task"})
_AGENT_COLUMNS = ("agent", "agent_name")  # whichever the ledger has, if any


@dataclass
class _Tally:
    """Runs, successes and money of one group of ledger rows (a project, a mode)."""

    runs: int = 0
    successes: int = 0
    spent_usd: float = 0.0
    saved_usd: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        self.runs += 1
        self.successes += row.get("status") == "success"
        self.spent_usd += float(row.get("cost_usd") or 0.0)
        self.saved_usd += float(row.get("saved_usd") or 0.0)

    def as_dict(self, **key: Any) -> dict[str, Any]:
        return {
            **key,
            "runs": self.runs,
            "successes": self.successes,
            "success_rate": _rate(self.successes, self.runs),
            "spent_usd": round(self.spent_usd, 6),
            "saved_usd": round(self.saved_usd, 6),
        }


@dataclass
class _Uses:
    """How often one agent was used and how it went, from the ledger and the traces."""

    uses: int = 0
    successes: int = 0
    spent_usd: float = 0.0
    sources: set[str] = field(default_factory=set)


def _rate(successes: int, total: int) -> float | None:
    return round(successes / total, 4) if total else None


def ledger_rows(db_path: Path) -> list[dict[str, Any]]:
    """Every ledger row as a dict, with whatever columns this ledger has."""
    conn = connect(db_path)
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM runs ORDER BY started_at")]
    except sqlite3.OperationalError:
        return []  # no runs table yet
    finally:
        conn.close()


def build_report(ws: Workspace, *, limit: int = 10) -> dict[str, Any]:
    rows = ledger_rows(ws.db_path)
    traces = list(TraceStore(ws.traces_dir).iter_traces())
    by_project: dict[str, _Tally] = defaultdict(_Tally)
    by_mode: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    for row in rows:
        by_project[str(row.get("project") or "")].add(row)
        by_mode[str(row.get("mode") or "")].add(row)
        total.add(row)
    follower = by_mode.get("follower", _Tally())
    agents = agent_stats(rows, [trace for _, trace in traces])
    return {
        "runs": total.runs,
        "spent_usd": round(total.spent_usd, 6),
        "saved_usd": round(total.saved_usd, 6),
        "saved_by_follower_usd": round(follower.saved_usd, 6),
        "follower_runs": follower.runs,
        "by_project": _tallies(by_project, "project"),
        "by_mode": _tallies(by_mode, "mode"),
        "most_reused_traces": reused_traces(traces, rows)[:limit],
        "tools": tool_stats([trace for _, trace in traces]),
        "agents": agents,
        "agents_worth_reusing": [
            a
            for a in agents
            if a["uses"] >= REUSE_MIN_USES and (a["success_rate"] or 0) >= REUSE_MIN_RATE
        ],
        "failing_goals": failing_goals(rows)[:limit],
        "governance": governance_report(ws.sessions_dir, rows),
    }


def _tallies(groups: dict[str, _Tally], key: str) -> list[dict[str, Any]]:
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].spent_usd, -kv[1].runs, kv[0]))
    return [tally.as_dict(**{key: name}) for name, tally in ordered]


def reused_traces(
    traces: list[tuple[Path, Trace]], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Traces used more than once, most used first, with their replays from the ledger."""
    replays: dict[str, _Tally] = defaultdict(_Tally)
    for row in rows:
        if row.get("mode") == "follower" and row.get("trace_path"):
            replays[Path(str(row["trace_path"])).name].add(row)
    found = []
    for path, trace in traces:
        if trace.usage_count < 2:
            continue
        replayed = replays.get(path.name, _Tally())
        found.append(
            {
                # A trace's fields as everywhere else (llmos/_internal/presentation/records.py): its
                # front matter's.
                "id": trace.goal_signature,
                "goal_text": trace.goal_text,
                "project": trace.project,
                "usage_count": trace.usage_count,
                "success_count": trace.success_count,
                "failure_count": trace.failure_count,
                "success_rating": trace.success_rating,
                "replays": replayed.runs,
                "saved_usd": round(replayed.saved_usd, 6),
                "estimated_cost_usd": trace.estimated_cost_usd,
            }
        )
    found.sort(key=lambda t: (t["usage_count"], t["saved_usd"], t["success_rating"]), reverse=True)
    return found


def tool_stats(traces: list[Trace]) -> list[dict[str, Any]]:
    calls: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # calls, ok, traces
    for trace in traces:
        for tool in {step.tool for step in trace.steps}:
            calls[tool][2] += 1
        for step in trace.steps:
            calls[step.tool][0] += 1
            calls[step.tool][1] += step.outcome == "ok"
    ordered = sorted(calls.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [
        {"tool": tool, "calls": n, "ok": ok, "success_rate": _rate(ok, n), "traces": in_traces}
        for tool, (n, ok, in_traces) in ordered
    ]


def agent_stats(rows: list[dict[str, Any]], traces: list[Trace]) -> list[dict[str, Any]]:
    agents: dict[str, _Uses] = defaultdict(_Uses)
    for row in rows:
        name = next((row[c] for c in _AGENT_COLUMNS if row.get(c)), None)
        status = row.get("status")
        if name and status not in _NEUTRAL_STATUSES:
            entry = agents[str(name)]
            entry.uses += 1
            entry.successes += status == "success"
            entry.spent_usd += float(row.get("cost_usd") or 0.0)
            entry.sources.add("ledger")
    for trace in traces:
        for step in trace.steps:
            if step.tool in _DELEGATION_TOOLS:
                name = str(step.input.get("subagent_type") or "general-purpose")
                entry = agents[name]
                entry.uses += 1
                entry.successes += step.outcome == "ok"
                entry.sources.add("traces")
    ordered = sorted(agents.items(), key=lambda kv: (-kv[1].uses, kv[0]))
    return [
        {
            "agent": name,
            "uses": a.uses,
            "successes": a.successes,
            "success_rate": _rate(a.successes, a.uses),
            "spent_usd": round(a.spent_usd, 6),
            "from": sorted(a.sources),
        }
        for name, a in ordered
    ]


def failing_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Goals failed at least twice whose latest attempt failed, most failures first."""
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("mode") == "distill" or row.get("status") in _NEUTRAL_STATUSES:
            continue  # distillations are not goals; an interrupted run proves nothing
        attempts[goal_signature(str(row.get("goal") or ""))].append(row)
    found = []
    for signature, runs in attempts.items():
        failures = [r for r in runs if r.get("status") != "success"]
        last = runs[-1]  # rows are in time order
        if len(failures) < FAILING_MIN_FAILURES or last.get("status") == "success":
            continue
        found.append(
            {
                "goal": last.get("goal"),
                "signature": signature,
                "attempts": len(runs),
                "failures": len(failures),
                "successes": len(runs) - len(failures),
                "projects": sorted({str(r.get("project")) for r in runs}),
                "last_status": last.get("status"),
                "last_error": last.get("error"),
                "spent_usd": round(sum(float(r.get("cost_usd") or 0.0) for r in runs), 6),
            }
        )
    found.sort(key=lambda g: (g["failures"], g["spent_usd"]), reverse=True)
    return found
