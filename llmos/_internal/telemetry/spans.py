"""A run's events made into spans: the same code for a live run and for a session log.

`SpanBuilder` reads one run's records in order, each an event's `to_dict()` plus its
`parent_run_id` (exactly what a session log line holds), and hands every span to `emit` the
moment it ends. It imports no OpenTelemetry: a `SpanRecord` is plain data, turned into an
OpenTelemetry span by llmos/_internal/telemetry/otel.py, so spans can be built, tested and counted
without the SDK.

The tree of one run (see ARCHITECTURE.md, "Telemetry", for every attribute):

    invoke_agent llmos                         the run (Learner, Follower, Orchestrator...)
    ├── chat claude-sonnet-4-5                 one model turn, with its token usage
    ├── execute_tool Bash                      one tool call: the policy's decision, its end
    ├── execute_tool Agent                     a delegation...
    │   └── invoke_agent reviewer              ...and the subagent it ran
    │       ├── chat ...  └── execute_tool ...
    └── invoke_agent <agent>                   an orchestration's subtask: a run of its own,
                                               from its own bus or log, under its parent

**Unknown events are safe.** A kind with no mapper below (a new kind another part of llmos
publishes: governance checks, routes, scores) becomes a span event `llmos.<kind>` on its
tool call's span (when it names an open one by `tool_use_id`) or the run's, carrying only
its numbers, booleans and short texts (redacted); longer texts, lists and mappings only
when content is captured. One with a numeric `score` becomes a GenAI evaluation event
(`gen_ai.evaluation.result`). To give a kind spans of its own, add a function to `MAPPERS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmos._internal.telemetry import ids
from llmos._internal.telemetry import semconv as sc
from llmos._internal.telemetry.content import ContentPolicy, safe_text

log = logging.getLogger(__name__)

AttrValue = str | bool | int | float | list[str]
Attributes = dict[str, AttrValue]
Record = dict[str, Any]

DELEGATION_TOOLS = frozenset({"Agent", "Task"})
_REPLAY_PREFIX = "replay-"
_SHORT_TEXT = 200  # an unknown event's text longer than this is content
# Fields of an unknown event that hold someone's words, exported only when content is.
_CONTENT_FIELDS = frozenset(
    {"goal", "text", "input", "output", "prompt", "content", "result", "summary", "message"}
    | {"reason", "detail", "feedback", "explanation", "messages", "tool_input", "step"}
)
_RECORD_FIELDS = frozenset({"kind", "at", "run_id", "parent_run_id", "seq", "prev", "hash"})


@dataclass
class SpanEvent:
    """A point-in-time event on a span, as plain data (`at` in epoch seconds)."""

    name: str
    at: float
    attributes: Attributes = field(default_factory=dict)


@dataclass
class SpanRecord:
    """One finished span, as plain data (times are epoch seconds)."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start: float
    end: float = 0.0
    kind: Literal["internal", "client"] = "internal"
    attributes: Attributes = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None  # the span failed: its error.type (its status is ERROR)
    error_message: str = ""

    def fail(self, error_type: str, message: str = "") -> None:
        self.error = error_type
        self.error_message = message
        self.attributes[sc.ERROR_TYPE] = error_type

    def event(self, name: str, at: float, attributes: dict[str, Any]) -> None:
        self.events.append(SpanEvent(name, at, _present(attributes)))


def _present(attributes: dict[str, Any]) -> Attributes:
    """The attributes that have a value (None and empty text dropped)."""
    return {k: v for k, v in attributes.items() if v is not None and v != ""}


class SpanBuilder:
    """One run's records in, its spans out (to `emit`, each as it ends)."""

    def __init__(self, emit: Callable[[SpanRecord], None], content: ContentPolicy) -> None:
        self.emit = emit
        self.content = content
        self.run: SpanRecord | None = None
        self.run_id = ""
        self.mode = ""
        self.model: str | None = None
        self.finished = False
        self.last_at = 0.0
        self._trace = 0
        self._tools: dict[str, SpanRecord] = {}  # calls under way, by tool_use_id
        self._subagents: dict[str, SpanRecord] = {}  # delegations' agents, by the call's id
        self._pending: dict[str, list[Record]] = {}  # records about a call not yet requested
        self._counts: dict[str, int] = {}
        self._answer = ""
        self._usage = {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
        self._turns = 0
        self._response_model: str | None = None

    # Input -------------------------------------------------------------------------------
    def feed(self, record: Record) -> None:
        at = record.get("at")
        at = float(at) if isinstance(at, int | float) else self.last_at
        self.last_at = max(self.last_at, at)
        kind = str(record.get("kind", ""))
        if self.run is None and kind != "run_started":
            self._open_run(record, at)  # a log that lost its first line still has a run
        mapper = MAPPERS.get(kind)
        if mapper is not None:
            mapper(self, record, at)
        elif kind not in _IGNORED:
            self._unknown(kind, record, at)

    def finish(self) -> None:
        """The records ended (the bus closed, the log was read): end what is still open. A
        run with no `run_finished` (killed, or still going) is marked unfinished."""
        if self.run is None or self.finished:
            return
        self.run.attributes[sc.UNFINISHED] = True
        self.run.fail("unfinished", "the run's events end before it finished")
        self._close_run(self.last_at)

    # The run -----------------------------------------------------------------------------
    def _open_run(self, record: Record, at: float) -> None:
        self.run_id = str(record.get("run_id") or "")
        parent = record.get("parent_run_id") or None
        self._trace = ids.trace_id(parent or self.run_id)
        self.mode = str(record.get("mode") or "")
        self.model = record.get("model") or None
        agent = record.get("agent") or "llmos"
        provider = sc.LLMOS if self.mode == "follower" else sc.ANTHROPIC
        self.run = SpanRecord(
            f"invoke_agent {agent}",
            self._trace,
            ids.span_id(self.run_id, "run"),
            ids.span_id(parent, "run") if parent else None,
            at,
            attributes=_present(
                {
                    sc.OPERATION_NAME: sc.INVOKE_AGENT,
                    sc.PROVIDER_NAME: provider,
                    sc.AGENT_NAME: agent,
                    sc.CONVERSATION_ID: self.run_id,
                    sc.REQUEST_MODEL: self.model,
                    sc.RUN_ID: self.run_id,
                    sc.PARENT_RUN_ID: parent,
                    sc.MODE: self.mode or None,
                    sc.MODE_REASON: _text(record.get("reason")),
                    sc.PROJECT: record.get("project"),
                    sc.WORKDIR: record.get("workdir"),
                    sc.BUDGET_USD: _number(record.get("budget_usd")),
                    sc.INPUT_MESSAGES: self.content.messages("user", record.get("goal")),
                }
            ),
        )

    def _close_run(self, at: float) -> None:
        assert self.run is not None
        for span in [*self._tools.values()]:
            span.fail("unfinished", "the run ended before the call did")
            self._end_tool(span, at)
        for tool_use_id in list(self._pending):
            self._orphan(tool_use_id)
        run = self.run
        usage = self._usage
        if self._turns or self.mode == "follower":  # else an older log: usage unknown
            run.attributes.setdefault(sc.USAGE_INPUT_TOKENS, sum(usage.values()) - usage["output"])
            run.attributes.setdefault(sc.USAGE_OUTPUT_TOKENS, usage["output"])
        if usage["cache_read"]:
            run.attributes[sc.USAGE_CACHE_READ_INPUT_TOKENS] = usage["cache_read"]
        if usage["cache_creation"]:
            run.attributes[sc.USAGE_CACHE_CREATION_INPUT_TOKENS] = usage["cache_creation"]
        if self._response_model:
            run.attributes.setdefault(sc.RESPONSE_MODEL, self._response_model)
        answer = self.content.messages("assistant", self._answer, finish_reason="stop")
        if answer:
            run.attributes[sc.OUTPUT_MESSAGES] = answer
        run.end = max(at, run.start)
        self.finished = True
        self.emit(run)

    def run_finished(self, record: Record, at: float) -> None:
        if self.finished:
            return
        assert self.run is not None
        status = str(record.get("status") or "")
        trace_path = record.get("trace_path")
        self.run.attributes.update(
            _present(
                {
                    sc.STATUS: status,
                    sc.COST_USD: _number(record.get("cost_usd")),
                    sc.SAVED_USD: _number(record.get("saved_usd")),
                    sc.TURNS: record.get("turns"),
                    sc.TOOL_CALLS: record.get("tool_calls"),
                    sc.TRACE_ID: Path(trace_path).stem if isinstance(trace_path, str) else None,
                    sc.RESPONSE_MODEL: record.get("model"),
                }
            )
        )
        # The turns' own counts are the run's (cached tokens included), unless there were
        # none (an older log) or the run had others' too (an orchestration's subtasks).
        if self.mode == "orchestrator" or not self._turns:
            for key, name in ((sc.USAGE_INPUT_TOKENS, "input"), (sc.USAGE_OUTPUT_TOKENS, "output")):
                value = record.get(f"{name}_tokens")
                if isinstance(value, int) and value > 0:
                    self.run.attributes[key] = value
        if status and status != "success":
            self.run.fail(status, _text(record.get("error")) or status)
        self._close_run(at)

    # Model turns -------------------------------------------------------------------------
    def model_turn(self, record: Record, at: float) -> None:
        message_id = str(record.get("message_id") or self._next("turn"))
        model = record.get("model") or self.model
        usage = _mapping(record, "usage")
        started = record.get("started_at")
        parent = self._parent_for(record.get("parent_tool_use_id"), record.get("agent"))
        span = self._child(
            parent,
            f"turn:{message_id}",
            f"chat {model}" if model else "chat",
            float(started) if isinstance(started, int | float) else at,
            kind="client",
        )
        span.attributes.update(
            _present(
                {
                    sc.OPERATION_NAME: sc.CHAT,
                    sc.PROVIDER_NAME: sc.ANTHROPIC,
                    sc.REQUEST_MODEL: self.model or model,
                    sc.RESPONSE_MODEL: model,
                    sc.RESPONSE_ID: record.get("message_id"),
                    **self._usage_attributes(usage),
                }
            )
        )
        if record.get("stop_reason"):
            span.attributes[sc.RESPONSE_FINISH_REASONS] = [str(record["stop_reason"])]
        if model:
            self._response_model = str(model)
        span.end = max(at, span.start)
        self.emit(span)

    def model_call(self, record: Record, at: float) -> None:
        """A gateway's upstream request (llmos/_internal/gateway: `model_call`) as a chat span."""
        model = record.get("model") or self.model
        usage = _mapping(record, "usage")
        duration = _number(record.get("duration_ms")) or 0.0
        span = self._child(
            self.run,
            self._next("call"),
            f"chat {model}" if model else "chat",
            at - duration / 1000,
            kind="client",
        )
        span.attributes.update(
            _present(
                {
                    sc.OPERATION_NAME: sc.CHAT,
                    sc.PROVIDER_NAME: sc.ANTHROPIC,
                    sc.REQUEST_MODEL: model,
                    sc.RESPONSE_MODEL: model,
                    sc.ATTEMPT: record.get("attempt"),
                    sc.HTTP_STATUS: record.get("status"),
                    sc.COST_USD: _number(record.get("cost_usd")),
                    **self._usage_attributes(usage),
                }
            )
        )
        if record.get("stop_reason"):
            span.attributes[sc.RESPONSE_FINISH_REASONS] = [str(record["stop_reason"])]
        status = record.get("status")
        if record.get("error") or (isinstance(status, int) and status >= 400):
            span.fail(str(status or "error"), _text(record.get("error")) or "")
        span.end = max(at, span.start)
        self.emit(span)

    def _usage_attributes(self, usage: dict[str, Any]) -> dict[str, Any]:
        counts = {
            key: int(usage.get(f"{key}_tokens") or usage.get(f"{key}_input_tokens") or 0)
            for key in ("input", "output")
        }
        counts["cache_read"] = int(usage.get("cache_read_input_tokens") or 0)
        counts["cache_creation"] = int(usage.get("cache_creation_input_tokens") or 0)
        self._turns += 1
        for key, value in counts.items():
            self._usage[key] += value
        cached = counts["cache_read"] + counts["cache_creation"]
        return {
            # GenAI: input tokens include the cached ones (Anthropic reports them apart).
            sc.USAGE_INPUT_TOKENS: counts["input"] + cached,
            sc.USAGE_OUTPUT_TOKENS: counts["output"],
            sc.USAGE_CACHE_READ_INPUT_TOKENS: counts["cache_read"] or None,
            sc.USAGE_CACHE_CREATION_INPUT_TOKENS: counts["cache_creation"] or None,
        }

    # Tool calls --------------------------------------------------------------------------
    def tool_requested(self, record: Record, at: float) -> None:
        tool_use_id = str(record.get("tool_use_id") or self._next("tool"))
        if tool_use_id in self._tools:
            return  # the same call announced twice
        tool = str(record.get("tool") or "?")
        parent = self._parent_for(record.get("parent_tool_use_id"), record.get("agent"))
        span = self._child(parent, f"tool:{tool_use_id}", f"execute_tool {tool}", at)
        replayed = self.mode == "follower"
        span.attributes.update(
            _present(
                {
                    sc.OPERATION_NAME: sc.EXECUTE_TOOL,
                    sc.TOOL_NAME: tool,
                    sc.TOOL_CALL_ID: tool_use_id,
                    sc.TOOL_TYPE: "extension" if tool.startswith("mcp__") else "function",
                    sc.REPLAYED: True if replayed else None,
                    sc.REPLAY_STEP: _replay_step(tool_use_id) if replayed else None,
                    sc.TOOL_CALL_ARGUMENTS: self.content.content(record.get("input")),
                }
            )
        )
        self._tools[tool_use_id] = span
        if tool in DELEGATION_TOOLS and not replayed:
            self._open_subagent(tool_use_id, span, record, at)
        for waiting in self._pending.pop(tool_use_id, []):
            self.feed(waiting)

    def _open_subagent(self, tool_use_id: str, call: SpanRecord, record: Record, at: float) -> None:
        given = _mapping(record, "input")
        name = str(given.get("subagent_type") or "subagent")
        agent = self._child(call, f"agent:{tool_use_id}", f"invoke_agent {name}", at)
        agent.attributes.update(
            _present(
                {
                    sc.OPERATION_NAME: sc.INVOKE_AGENT,
                    sc.PROVIDER_NAME: sc.ANTHROPIC,
                    sc.AGENT_NAME: name,
                    sc.CONVERSATION_ID: self.run_id,
                    sc.SUBAGENT: True,
                    sc.INPUT_MESSAGES: self.content.messages("user", given.get("prompt")),
                }
            )
        )
        self._subagents[tool_use_id] = agent

    def tool_decision(self, record: Record, at: float) -> None:
        tool_use_id = str(record.get("tool_use_id") or "")
        span = self._tools.get(tool_use_id)
        if span is None:
            self._pending.setdefault(tool_use_id, []).append(record)
            return
        allowed = bool(record.get("allowed"))
        facts = _present(
            {
                sc.POLICY_ALLOWED: allowed,
                sc.POLICY_DECISION: record.get("decision") or ("allow" if allowed else "deny"),
                sc.POLICY_RULE: record.get("rule"),
                sc.POLICY_GUARD: record.get("guard"),
                sc.POLICY_APPROVED_BY: record.get("approved_by"),
            }
        )
        span.attributes.update(facts)
        reason = self.content.content(record.get("reason"))
        changed = self.content.content(record.get("updated_input"))
        span.event(
            "llmos.policy.decision",
            at,
            {**facts, sc.POLICY_REASON: reason, "llmos.tool.call.arguments_run": changed},
        )
        if not allowed:
            span.fail("denied", f"{record.get('guard')}: {record.get('rule')}")
            self._end_tool(span, at)

    def tool_finished(self, record: Record, at: float) -> None:
        tool_use_id = str(record.get("tool_use_id") or "")
        span = self._tools.get(tool_use_id)
        if span is None:
            self._pending.setdefault(tool_use_id, []).append(record)
            return
        result = self.content.content(record.get("summary"))
        if result is not None:
            span.attributes[sc.TOOL_CALL_RESULT] = result
        if not record.get("ok"):
            span.fail("tool_error", "the call failed")
        self._end_tool(span, at)

    def _end_tool(self, span: SpanRecord, at: float) -> None:
        tool_use_id = str(span.attributes.get(sc.TOOL_CALL_ID, ""))
        self._tools.pop(tool_use_id, None)
        agent = self._subagents.pop(tool_use_id, None)
        if agent is not None:
            if span.error:
                agent.fail(span.error, span.error_message)
            agent.end = max(at, agent.start)
            self.emit(agent)
        span.end = max(at, span.start)
        self.emit(span)

    def _orphan(self, tool_use_id: str) -> None:
        """Decisions (or an end) about a call that was never announced: a replay step the
        policy refused before anything ran. It gets a span of its own, at the first record."""
        records = self._pending.get(tool_use_id)
        if not records:
            self._pending.pop(tool_use_id, None)
            return
        first = records[0]
        self.tool_requested(
            {**first, "kind": "tool_requested", "tool_use_id": tool_use_id, "input": None},
            float(first.get("at") or self.last_at),
        )
        span = self._tools.get(tool_use_id)
        if span is not None:  # still open: it never ended either
            self._end_tool(span, span.start)

    def _parent_for(self, parent_tool_use_id: Any, agent: Any) -> SpanRecord | None:
        """The span a call or turn belongs under: its subagent's (by the delegating call's
        id; for logs that do not record it, the subagent running now), else the run's."""
        if parent_tool_use_id and parent_tool_use_id in self._subagents:
            return self._subagents[parent_tool_use_id]
        if agent and not parent_tool_use_id and self._subagents:
            return next(reversed(self._subagents.values()))
        return self.run

    # Run-level facts ---------------------------------------------------------------------
    def assistant_text(self, record: Record, at: float) -> None:
        if not record.get("agent") and record.get("text"):
            self._answer = str(record["text"])

    def cost_updated(self, record: Record, at: float) -> None:
        if record.get("final") and self.run is not None:
            self.run.attributes[sc.COST_USD] = _number(record.get("spent_usd")) or 0.0

    def _run_event(self, name: str, at: float, attributes: dict[str, Any]) -> None:
        if self.run is not None and not self.finished:
            self.run.event(name, at, attributes)

    def memory_injected(self, record: Record, at: float) -> None:
        self._run_event(
            "llmos.memory",
            at,
            {
                "llmos.memory.tokens": record.get("tokens"),
                "llmos.memory.items": len(record.get("sources") or []),
                "llmos.memory.considered": record.get("considered"),
                "llmos.memory.text": self.content.content(record.get("text") or None),
            },
        )

    def notice(self, record: Record, at: float) -> None:
        self._run_event("llmos.notice", at, {"llmos.notice.text": _text(record.get("text"))})

    def watchdog_tripped(self, record: Record, at: float) -> None:
        self._run_event(
            "llmos.watchdog",
            at,
            {
                "llmos.watchdog.limit": record.get("limit"),
                "llmos.watchdog.limit_secs": _number(record.get("limit_secs")),
                "llmos.watchdog.detail": _text(record.get("detail")),
            },
        )

    def plan_ready(self, record: Record, at: float) -> None:
        subtasks = _list(record, "subtasks")
        self._run_event(
            "llmos.plan",
            at,
            {
                "llmos.plan.source": record.get("source"),
                "llmos.plan.subtasks": len(subtasks),
                "llmos.plan.agents": sorted(
                    {str(s.get("agent")) for s in subtasks if isinstance(s, dict)}
                ),
                "llmos.plan": self.content.content(subtasks),
            },
        )

    def subtask_changed(self, record: Record, at: float) -> None:
        if record.get("status") == "running" and record.get("detail"):
            return  # a running subtask's latest action: the child run's own spans say it
        self._run_event(
            "llmos.subtask",
            at,
            {
                "llmos.subtask.id": record.get("subtask_id"),
                "llmos.subtask.status": record.get("status"),
                "llmos.subtask.agent": record.get("agent"),
                "llmos.subtask.mode": record.get("mode"),
                "llmos.subtask.run_id": record.get("child_run_id"),
                "llmos.subtask.cost_usd": _number(record.get("cost_usd")),
                "llmos.subtask.detail": _text(record.get("detail")),
            },
        )

    def think_again(self, record: Record, at: float) -> None:
        rejected = _list(record, "rejected")
        self._run_event(
            "llmos.think_again",
            at,
            {
                sc.ATTEMPT: record.get("attempt"),
                "llmos.rejected_calls": len(rejected),
                "llmos.rejected": self.content.content(rejected),
            },
        )

    def request_refused(self, record: Record, at: float) -> None:
        self._run_event(
            "llmos.request_refused",
            at,
            {
                sc.HTTP_STATUS: record.get("status"),
                sc.ERROR_TYPE: record.get("error_type"),
                "llmos.message": _text(record.get("message")),
            },
        )

    def _unknown(self, kind: str, record: Record, at: float) -> None:
        """See the module: an event on the call's span or the run's; only safe fields."""
        attributes: dict[str, Any] = {}
        for key, value in record.items():
            if key in _RECORD_FIELDS:
                continue
            name = f"llmos.{kind}.{key}"
            if isinstance(value, bool | int | float):
                attributes[name] = value
            elif isinstance(value, str) and key not in _CONTENT_FIELDS:
                short = len(value) <= _SHORT_TEXT
                attributes[name] = safe_text(value) if short else self.content.content(value)
            else:
                attributes[name] = self.content.content(value)
        target = self._tools.get(str(record.get("tool_use_id") or "")) or self.run
        if target is None or (target is self.run and self.finished):
            return
        score = record.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            label = record.get("label")
            if label is None and isinstance(record.get("passed"), bool):
                label = "pass" if record["passed"] else "fail"
            name = record.get("name") or record.get("evaluator") or kind
            attributes.update(
                {
                    sc.EVALUATION_NAME: str(name),
                    sc.EVALUATION_SCORE_VALUE: float(score),
                    sc.EVALUATION_SCORE_LABEL: label,
                }
            )
            target.event("gen_ai.evaluation.result", at, attributes)
            return
        target.event(f"llmos.{kind}", at, attributes)

    # Helpers -----------------------------------------------------------------------------
    def _child(
        self,
        parent: SpanRecord | None,
        key: str,
        name: str,
        start: float,
        *,
        kind: Literal["internal", "client"] = "internal",
    ) -> SpanRecord:
        parent = parent or self.run
        return SpanRecord(
            name,
            self._trace,
            ids.span_id(self.run_id, key),
            parent.span_id if parent is not None else None,
            start,
            kind=kind,
        )

    def _next(self, what: str) -> str:
        self._counts[what] = self._counts.get(what, 0) + 1
        return f"{what}:{self._counts[what]}"


def _text(value: Any) -> str | None:
    """llmos's own text (a reason, an error, a notice): redacted and cut short."""
    return safe_text(str(value)) if value else None


def _mapping(record: Record, key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _list(record: Record, key: str) -> list[Any]:
    value = record.get(key)
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 6)


def _replay_step(tool_use_id: str) -> int | None:
    number = tool_use_id.removeprefix(_REPLAY_PREFIX)
    return int(number) if tool_use_id.startswith(_REPLAY_PREFIX) and number.isdigit() else None


Mapper = Callable[[SpanBuilder, Record, float], None]

MAPPERS: dict[str, Mapper] = {
    "run_started": lambda b, r, at: b._open_run(r, at) if b.run is None else None,
    "run_finished": SpanBuilder.run_finished,
    "model_turn": SpanBuilder.model_turn,
    "tool_requested": SpanBuilder.tool_requested,
    "tool_decision": SpanBuilder.tool_decision,
    "tool_finished": SpanBuilder.tool_finished,
    "assistant_text": SpanBuilder.assistant_text,
    "cost_updated": SpanBuilder.cost_updated,
    "memory_injected": SpanBuilder.memory_injected,
    "notice": SpanBuilder.notice,
    "watchdog_tripped": SpanBuilder.watchdog_tripped,
    "plan_ready": SpanBuilder.plan_ready,
    "subtask_changed": SpanBuilder.subtask_changed,
    # llmos gateway's conversations (llmos/_internal/gateway/events.py)
    "model_call": SpanBuilder.model_call,
    "think_again": SpanBuilder.think_again,
    "request_refused": SpanBuilder.request_refused,
}
# Kinds that add nothing to the spans: a gateway's captured step repeats its tool call.
_IGNORED = frozenset({"trace_step"})
