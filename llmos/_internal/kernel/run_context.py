"""What one run knows about itself; shared by the hooks, the agent runner and the dispatcher."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.cost import CostMeter
from llmos._internal.kernel.events import ToolDecision

if TYPE_CHECKING:
    from llmos._internal.kernel.watchdog import Watchdog


def new_run_id() -> str:
    # os.urandom, not uuid: importing uuid loads `platform` (a few ms of every replay).
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


@dataclass
class RunContext:
    """What one run knows about itself while it runs; its hooks, runner and dispatcher share it."""

    goal: str
    project: str
    workdir: Path
    mode: str
    budget_usd: float
    bus: EventBus
    model: str | None = None
    # The run this one works for (an orchestration, a hand-over's first run) and the agent it
    # works as: its session log and ledger row name them.
    parent_run: str | None = None
    agent: str | None = None
    home: Path = field(default_factory=Path.home)
    run_id: str = field(default_factory=new_run_id)
    started_at: float = field(default_factory=time.time)
    cost: CostMeter = field(default_factory=CostMeter)
    tool_calls: int = 0
    denied_calls: int = 0
    refused_tools: list[str] = field(default_factory=list)  # the tool of each refused call
    watchdog: Watchdog | None = None  # the agent's, while it runs (llmos/_internal/sdk/runner.py)
    # The W3C trace context of the run's span, when telemetry is on (llmos/_internal/telemetry):
    # given to the agent's CLI as TRACEPARENT, so that its own spans, if enabled, nest under it.
    traceparent: str | None = None
    # Changes the model of the agent that runs (the SDK client's set_model), while it runs:
    # how a governance route switches models (llmos/_internal/engine/governed/session.py).
    switch_model: Callable[[str], Awaitable[None]] | None = None

    @property
    def spent_usd(self) -> float:
        return self.cost.spent_usd

    def refuse(self, tool_use_id: str, tool: str, *, guard: str, rule: str, reason: str) -> None:
        """Count a call a guard refused, and publish why (the terminal and the log show it)."""
        self.count_refusal(tool)
        self.bus.publish(
            ToolDecision(
                run_id=self.run_id,
                tool_use_id=tool_use_id,
                tool=tool,
                allowed=False,
                guard=guard,
                rule=rule,
                reason=reason,
            )
        )

    def count_refusal(self, tool: str) -> None:
        self.denied_calls += 1
        self.refused_tools.append(tool)

    @contextmanager
    def waiting_for_human(self) -> Iterator[None]:
        """Around a question to a human (an approval): the watchdog's stall and tool limits
        do not count the time they take to answer."""
        watchdog = self.watchdog
        if watchdog is None:
            yield
            return
        watchdog.pause()
        try:
            yield
        finally:
            watchdog.resume()
