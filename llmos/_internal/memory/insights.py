"""Insights: what llmos notes after a successful Learner run, without asking the model.

One insight per learned goal and project, `projects/NAME/memory/insights/<goal
signature>.md`, rewritten each time the goal is learned again: the goal, what worked (the
steps that succeeded, in order), what did not (failed steps, calls the guards refused), the
tools, and what it cost in money, turns and time. Recall offers it to later runs of similar
goals; `llmos memory distill` can merge insights into facts with the model.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from llmos._internal.errors import LlmosError
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.memory_item import MemoryItem, clean_tags, parse
from llmos._internal.memory.trace import Trace
from llmos._internal.text import one_line
from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)

_MAX_STEPS_LISTED = 12


class AgentReport(Protocol):
    """What an insight reads of the agent's report (llmos/_internal/sdk/types.py: AgentOutcome)."""

    @property
    def model(self) -> str | None: ...
    @property
    def turns(self) -> int: ...
    @property
    def cost_usd(self) -> float: ...
    @property
    def duration_secs(self) -> float: ...
    @property
    def result_text(self) -> str: ...


def insight_text(trace: Trace, outcome: AgentReport, ctx: RunContext) -> str:
    worked = [s.summary for s in trace.steps if s.outcome == "ok"]
    failed = [s.summary for s in trace.steps if s.outcome != "ok"]
    model = outcome.model or ctx.model or "the default model"
    lines = [
        f"Goal: {one_line(trace.goal_text, 300)}",
        f"Done in Learner mode with {model}: {ctx.tool_calls} tool call(s) over "
        f"{outcome.turns} turn(s), ${outcome.cost_usd:.4f}, {outcome.duration_secs:.1f} s.",
        "What worked: " + (_numbered(worked) or "no tool calls were needed."),
    ]
    if failed:
        lines.append("What did not work: " + _numbered(failed))
    if ctx.denied_calls:
        lines.append(f"Refused by llmos's guards: {ctx.denied_calls} call(s); avoid them.")
    lines.append("Tools: " + (", ".join(trace.tools_used) or "none") + ".")
    if outcome.result_text.strip():
        lines.append(f"Outcome: {one_line(outcome.result_text, 300)}")
    return "\n".join(lines)


def _numbered(summaries: list[str]) -> str:
    shown = [f"{n}. {s}" for n, s in enumerate(summaries[:_MAX_STEPS_LISTED], start=1)]
    more = len(summaries) - _MAX_STEPS_LISTED
    return "; ".join(shown) + (f"; and {more} more." if more > 0 else ".")


def write_run_insight(
    memory: MemoryStore, trace: Trace, outcome: AgentReport, ctx: RunContext
) -> Path:
    """Write (or rewrite) the insight about this run's goal in the run's project."""
    path = memory.folder("insight", ctx.project) / f"{trace.goal_signature}.md"
    learned_runs = _previous_learned_runs(path, ctx.project) + 1
    meta: dict[str, Any] = {
        "trace": trace.goal_signature,
        "goal": trace.goal_text,
        "learned_runs": learned_runs,
        "run": {
            "run_id": ctx.run_id,
            "model": outcome.model or ctx.model,
            "cost_usd": round(outcome.cost_usd, 6),
            "duration_secs": round(outcome.duration_secs, 3),
            "turns": outcome.turns,
            "tool_calls": ctx.tool_calls,
            "denied_calls": ctx.denied_calls,
            "tools": list(trace.tools_used),
        },
    }
    item = MemoryItem(
        id=trace.goal_signature,
        kind="insight",
        text=insight_text(trace, outcome, ctx),
        project=ctx.project,
        tags=_tags(trace),
        source=f"run:{ctx.run_id}",
        meta=meta,
    )
    return memory.write(item)


def _tags(trace: Trace) -> tuple[str, ...]:
    try:
        return clean_tags([tool.lower() for tool in trace.tools_used])
    except LlmosError:
        return ()  # an odd tool name (an MCP tool...) is no reason to lose the insight


def _previous_learned_runs(path: Path, project: str) -> int:
    try:
        earlier = parse(
            path.read_text(encoding="utf-8"), path=path, kind="insight", project=project
        )
    except (OSError, UnicodeDecodeError, LlmosError, ValueError, TypeError):
        return 0
    value = earlier.meta.get("learned_runs")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def record_insight(ws: Workspace, trace: Trace, outcome: AgentReport, ctx: RunContext) -> None:
    """`write_run_insight`, for the Learner: a failure to note an insight never fails a run."""
    try:
        with MemoryStore(ws) as memory:
            write_run_insight(memory, trace, outcome, ctx)
    except (OSError, sqlite3.Error, LlmosError, ValueError) as exc:
        log.warning("could not write the insight of run %s: %s", ctx.run_id, exc)
