"""The gateway's own events, beside the kernel's (`ToolRequested`, `ToolDecision`,
`ToolFinished`, `AssistantText`, `CostUpdated`, `RunStarted`, `RunFinished`), in a
conversation's session log. How each reads in a run's timeline:
llmos/_internal/presentation/timeline.py."""

from __future__ import annotations

from dataclasses import field
from typing import Any, ClassVar

from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import Event


@frozen(kw_only=True, eq=False)
class ModelCalled(Event):
    """One request the gateway made upstream for a client request (attempt 0), or to send a
    rejected turn back to the model (attempt 1, 2...)."""

    kind: ClassVar[str] = "model_call"
    model: str
    stream: bool
    attempt: int
    status: int  # the upstream's HTTP status
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    stop_reason: str | None = None
    duration_ms: float = 0.0
    error: str | None = None


@frozen(kw_only=True, eq=False)
class ThinkAgain(Event):
    """A turn was sent back to the model: what was rejected in it, and why."""

    kind: ClassVar[str] = "think_again"
    attempt: int  # the attempt that follows (1 for the first time)
    rejected: list[dict[str, Any]]  # tool_use_id, tool, rule, reason


@frozen(kw_only=True, eq=False)
class StepCaptured(Event):
    """A released tool call whose result came back in the client's next request, as a trace
    step (llmos/_internal/memory/trace.py): what `llmos gateway save` turns into a trace."""

    kind: ClassVar[str] = "trace_step"
    tool_use_id: str
    step: dict[str, Any]


@frozen(kw_only=True, eq=False)
class RequestRefused(Event):
    """A client request the gateway answered itself, with an API error (a budget spent)."""

    kind: ClassVar[str] = "request_refused"
    status: int
    error_type: str
    message: str
