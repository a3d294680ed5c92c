"""A goal as the user asked for it, and the summary of how its run went."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Mode = Literal["auto", "learner", "follower", "orchestrator"]
MODES: tuple[Mode, ...] = ("auto", "learner", "follower", "orchestrator")


@dataclass(frozen=True)
class RunRequest:
    goal: str
    mode: Mode = "auto"
    project: str = "default"
    budget_usd: float | None = None
    model: str | None = None
    max_turns: int | None = None
    timeout_secs: float | None = None
    trace_id: str | None = None  # replay this trace (Follower mode)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    goal: str
    mode: str
    mode_reason: str
    status: str
    project: str
    workdir: str
    model: str | None
    turns: int
    tool_calls: int
    denied_calls: int
    cost_usd: float
    saved_usd: float
    duration_secs: float
    balance_usd: float
    result: str
    trace_path: str | None
    session_log: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
