"""Typed events published on the kernel's event bus during a run.

Every event carries the run it belongs to and when it happened; `to_dict()` gives the
JSON-ready form the session log (L2) stores.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"
    run_id: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    goal: str
    mode: str
    project: str
    workdir: str
    model: str | None
    budget_usd: float
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ToolRequested(Event):
    kind: ClassVar[str] = "tool_requested"
    tool_use_id: str
    tool: str
    input: dict[str, Any]
    agent: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolDecision(Event):
    """The verdict of a PreToolUse guard (security, budget) on one call."""

    kind: ClassVar[str] = "tool_decision"
    tool_use_id: str
    tool: str
    allowed: bool
    guard: str
    rule: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ToolFinished(Event):
    kind: ClassVar[str] = "tool_finished"
    tool_use_id: str
    tool: str
    ok: bool
    summary: str


@dataclass(frozen=True, kw_only=True)
class AssistantText(Event):
    kind: ClassVar[str] = "assistant_text"
    text: str
    agent: str | None = None


@dataclass(frozen=True, kw_only=True)
class CostUpdated(Event):
    kind: ClassVar[str] = "cost_updated"
    spent_usd: float
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class MemoryInjected(Event):
    kind: ClassVar[str] = "memory_injected"
    sources: list[str]
    tokens: int


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    status: str
    cost_usd: float
    turns: int
    tool_calls: int
    duration_secs: float
    trace_path: str | None = None
    error: str | None = None
