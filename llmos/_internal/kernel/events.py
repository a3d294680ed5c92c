"""Typed events published on the kernel's event bus during a run.

Every event carries the run it belongs to and when it happened; `to_dict()` gives the
JSON-ready form the session log (L2) stores.
"""

from __future__ import annotations

import time
from dataclasses import asdict, field
from typing import TYPE_CHECKING, Any, ClassVar

from llmos._internal.frozen import frozen

if TYPE_CHECKING:
    from llmos._internal.kernel.watchdog import LimitName


@frozen(kw_only=True, eq=False)
class Event:
    """What every event carries: the run it belongs to and when it happened."""

    kind: ClassVar[str] = "event"
    run_id: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@frozen(kw_only=True, eq=False)
class RunStarted(Event):
    """A run began: its goal, the mode chosen and why, where it works, its budget."""

    kind: ClassVar[str] = "run_started"
    goal: str
    mode: str
    project: str
    workdir: str
    model: str | None
    budget_usd: float
    reason: str = ""
    agent: str | None = None  # the agent it works as (an orchestration's subtask)


@frozen(kw_only=True, eq=False)
class ToolRequested(Event):
    """A tool call is about to be decided on (the model's, or a replayed step's)."""

    kind: ClassVar[str] = "tool_requested"
    tool_use_id: str
    tool: str
    input: dict[str, Any]
    agent: str | None = None
    parent_tool_use_id: str | None = None  # a subagent's call: the delegating Agent call
    step_type: str = (
        ""  # read, search, write, execute, verify, network... (llmos/_internal/governance)
    )
    turn: str | None = None  # the model message that made the call (its superstep)


@frozen(kw_only=True, eq=False)
class ToolDecision(Event):
    """The verdict of a PreToolUse guard (security, approval, budget) on one call."""

    kind: ClassVar[str] = "tool_decision"
    tool_use_id: str
    tool: str
    allowed: bool
    guard: str
    rule: str
    reason: str
    decision: str = ""  # what the security policy said: allow, ask or deny
    approved_by: str | None = None  # who approved what it asked about ("the user", "--yes")
    updated_input: dict[str, Any] | None = None  # the input that ran, when a human changed it


@frozen(kw_only=True, eq=False)
class ToolFinished(Event):
    """A tool call has ended: whether it succeeded, and its result in a line."""

    kind: ClassVar[str] = "tool_finished"
    tool_use_id: str
    tool: str
    ok: bool
    summary: str


@frozen(kw_only=True, eq=False)
class AssistantText(Event):
    """Text the model wrote to the user (not a tool call)."""

    kind: ClassVar[str] = "assistant_text"
    text: str
    agent: str | None = None
    turn: str | None = None  # the model message it is part of (its superstep)


@frozen(kw_only=True, eq=False)
class ModelTurn(Event):
    """One model message (a turn of the main agent or a subagent) has ended: its tokens as
    the stream reported them. `at` is when it ended, `started_at` when it began."""

    kind: ClassVar[str] = "model_turn"
    message_id: str
    model: str | None
    started_at: float
    usage: dict[str, int]  # input, output, cache_creation_input and cache_read_input tokens
    stop_reason: str | None = None
    agent: str | None = None
    parent_tool_use_id: str | None = None


@frozen(kw_only=True, eq=False)
class CostUpdated(Event):
    """What the run has spent so far (`final`: the SDK's own total at its end)."""

    kind: ClassVar[str] = "cost_updated"
    spent_usd: float
    final: bool = False


@frozen(kw_only=True, eq=False)
class Notice(Event):
    """Something the user should know about how the run is going (e.g. a fallback)."""

    kind: ClassVar[str] = "notice"
    text: str


@frozen(kw_only=True, eq=False)
class MemoryInjected(Event):
    """What recall gave the model before the run (memory/recall.py), exactly, and its size."""

    kind: ClassVar[str] = "memory_injected"
    sources: list[str]  # the files the items came from, in the order injected
    tokens: int  # the injected text's count, never over `budget_tokens`
    text: str = ""  # exactly what was injected ("" when nothing was)
    chars: int = 0
    budget_tokens: int = 0
    counter: str = ""  # how tokens were counted: count_tokens (model) or conservative
    items: list[dict[str, Any]] = field(default_factory=list)  # kind, source, score, tokens
    considered: int = 0  # relevant items found, injected or not


@frozen(kw_only=True, eq=False)
class RunFinished(Event):
    """A run ended: how, what it cost and saved, its turns, tool calls and trace."""

    kind: ClassVar[str] = "run_finished"
    status: str
    cost_usd: float
    turns: int
    tool_calls: int
    duration_secs: float
    trace_path: str | None = None
    error: str | None = None
    saved_usd: float = 0.0  # a replay: what the model would have cost
    input_tokens: int = 0  # cached ones included; an orchestration's: its subtasks' too
    output_tokens: int = 0
    model: str | None = None


@frozen(kw_only=True, eq=False)
class WatchdogTripped(Event):
    """The watchdog stopped the run: `limit` is "run", "stall" or "tool"."""

    kind: ClassVar[str] = "watchdog_tripped"
    limit: LimitName
    limit_secs: float
    detail: str


# Governance events (llmos/_internal/governance): checkers, routers and evaluators over the run's
# history.


@frozen(kw_only=True, eq=False)
class CheckerResults(Event):
    """Every checker's verdict at one moment: before a call (`phase` "call"), before the run
    may finish ("finish", `tool_use_id` ""), over a trace's steps before a replay ("replay"),
    or on an artifact such as a plan ("artifact"). `results`: checker, passed, reason."""

    kind: ClassVar[str] = "checker_results"
    phase: str
    results: list[dict[str, Any]]
    allowed: bool
    tool_use_id: str = ""
    tool: str = ""
    step_type: str = ""
    blocks: int = 0  # finish: how many times the run was sent back so far


@frozen(kw_only=True, eq=False)
class RouteTaken(Event):
    """A router's decision: `action` handoff (to agent `target`), model (switch to `target`),
    ask (a human) or stop; `outcome` says what came of it."""

    kind: ClassVar[str] = "route_taken"
    router: str
    action: str
    target: str | None
    reason: str
    tool_use_id: str = ""  # the step after which it was taken ("" at the end)
    outcome: str = ""


@frozen(kw_only=True, eq=False)
class ScoreRecorded(Event):
    """An evaluator's score of one step (`scope` "step") or of the run ("run"). `score` is in
    0..1 where the evaluator has one; `measures` holds its raw figures."""

    kind: ClassVar[str] = "score_recorded"
    evaluator: str
    scope: str
    score: float | None
    passed: bool | None
    detail: str
    measures: dict[str, float] = field(default_factory=dict)
    tool_use_id: str = ""
    gate: bool = False  # a failure makes the run's trace unfollowable


# Orchestrator events: published on the orchestration's own bus (its subtasks are runs of
# their own, with their own buses and session logs, linked by `parent_run_id`).


@frozen(kw_only=True, eq=False)
class PlanReady(Event):
    """The plan the orchestration will run: `source` is "planner", "reused" or "revised"."""

    kind: ClassVar[str] = "plan_ready"
    source: str
    subtasks: list[dict[str, Any]]  # id, goal, agent, depends_on, budget_share, cap_usd


@frozen(kw_only=True, eq=False)
class SubtaskChanged(Event):
    """A subtask's status (waiting, running, retrying, success, failed, skipped) or, while
    it runs, its latest action in `detail`."""

    kind: ClassVar[str] = "subtask_changed"
    subtask_id: str
    status: str
    agent: str
    mode: str | None = None  # learner or follower, once its run chose
    child_run_id: str | None = None
    cost_usd: float = 0.0
    detail: str = ""


# Kernel events: published on the kernel's own bus by the scheduler, one per scheduled run
# (or per batch of missed ones). `run_id` is the run's id, or "" when no run happened.


@frozen(kw_only=True, eq=False)
class JobStarted(Event):
    """A scheduled job's run began (`coalesced`: the due runs it stands for)."""

    kind: ClassVar[str] = "job_started"
    job_id: str
    goal: str
    scheduled_for: float
    coalesced: int = 1  # fire times this one run stands for (the misfire rule)


@frozen(kw_only=True, eq=False)
class JobFinished(Event):
    """A scheduled job's run ended."""

    kind: ClassVar[str] = "job_finished"
    job_id: str
    status: str
    cost_usd: float
    duration_secs: float
    error: str | None = None


@frozen(kw_only=True, eq=False)
class JobMissed(Event):
    """Runs of a scheduled job that were due and will not happen (`reason` says why)."""

    kind: ClassVar[str] = "job_missed"
    job_id: str
    missed: int
    first_missed: float
    reason: str
