"""The watchdog: the limits that stop a run that takes too long or stops making progress.

Three limits, each off when None:

- **run**: wall-clock seconds for the whole run (`llmos run --timeout`, a scheduled job's
  timeout);
- **stall**: seconds without any event from the agent's stream while no tool call is
  running: a model (or a connection) that stopped answering. Streaming is on, so a model
  that writes slowly but steadily is not stalled;
- **tool**: seconds one tool call may run. Subagent calls (`Agent`) are exempt: the calls
  the subagent makes are watched one by one, and the run limit bounds the whole.

While a human is asked about a tool call (`pause()`, through `RunContext.waiting_for_human`),
neither the stall nor the tool limit counts: a person thinking is not a hung model or tool.
The run limit does, being wall-clock time.

Plain logic with an injected clock: the agent runner (`llmos/_internal/sdk/runner.py`) reports what
it sees and asks `breach()` at the moments `seconds_to_next_check()` names; `on_change` is
called when a tool call starts or ends, since that moves the next deadline earlier.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from llmos._internal.frozen import frozen

LimitName = Literal["run", "stall", "tool"]
EXEMPT_TOOLS = frozenset({"Agent", "Task"})  # subagents: their own calls are watched


@frozen
class WatchdogLimits:
    """The watchdog's limits for one run, in seconds (None: no limit)."""

    run_secs: float | None = None
    stall_secs: float | None = None
    tool_secs: float | None = None

    @classmethod
    def of(
        cls, run_secs: float | None, stall_secs: float | None, tool_secs: float | None
    ) -> WatchdogLimits:
        """Limits from settings, where 0 (or less) means "no limit"."""

        def on(value: float | None) -> float | None:
            return value if value is not None and value > 0 else None

        return cls(on(run_secs), on(stall_secs), on(tool_secs))


@frozen
class Breach:
    """A limit a run went past, and what went past it."""

    limit: LimitName
    limit_secs: float
    detail: str


class Watchdog:
    def __init__(
        self,
        limits: WatchdogLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._on_change = on_change
        self._started = self._last_activity = clock()
        self._tools: dict[str, tuple[str, float]] = {}  # tool_use_id -> (tool, started)
        self._pauses = 0  # questions to a human under way
        self._paused_at = 0.0

    def pause(self) -> None:
        """A human is being asked: stop the stall and tool clocks (calls may nest)."""
        if self._pauses == 0:
            self._paused_at = self._clock()
        self._pauses += 1
        self._on_change()

    def resume(self) -> None:
        """The human answered: the stall and tool clocks go on where they stopped."""
        self._pauses -= 1
        if self._pauses > 0:
            return
        waited = self._clock() - self._paused_at
        self._last_activity += waited
        self._tools = {key: (tool, t + waited) for key, (tool, t) in self._tools.items()}
        self._on_change()

    def saw_activity(self) -> None:
        self._last_activity = self._clock()

    def tool_started(self, tool_use_id: str, tool: str) -> None:
        self.saw_activity()
        if tool not in EXEMPT_TOOLS:
            self._tools[tool_use_id] = (tool, self._clock())
            self._on_change()

    def tool_finished(self, tool_use_id: str) -> None:
        self.saw_activity()
        if self._tools.pop(tool_use_id, None) is not None:
            self._on_change()

    def breach(self) -> Breach | None:
        """The first limit exceeded now, if any."""
        now, limits = self._clock(), self.limits
        if limits.run_secs is not None and now - self._started >= limits.run_secs:
            return Breach(
                "run", limits.run_secs, f"the run exceeded its timeout of {limits.run_secs:g} s"
            )
        if self._pauses:
            return None
        if limits.tool_secs is not None:
            for tool, started in self._tools.values():
                if now - started >= limits.tool_secs:
                    return Breach(
                        "tool",
                        limits.tool_secs,
                        f"a {tool} tool call ran longer than {limits.tool_secs:g} s "
                        "(tool_timeout_secs)",
                    )
        stalled_for = now - self._last_activity
        if limits.stall_secs is not None and not self._tools and stalled_for >= limits.stall_secs:
            return Breach(
                "stall",
                limits.stall_secs,
                f"the model sent nothing for {limits.stall_secs:g} s (stall_timeout_secs)",
            )
        return None

    def seconds_to_next_check(self) -> float | None:
        """How long until a limit could be exceeded (None: no limit applies)."""
        deadlines = []
        limits = self.limits
        if limits.run_secs is not None:
            deadlines.append(self._started + limits.run_secs)
        if not self._pauses:  # while a human is asked, only the run limit counts
            if limits.tool_secs is not None:
                deadlines.extend(started + limits.tool_secs for _, started in self._tools.values())
            if limits.stall_secs is not None and not self._tools:
                deadlines.append(self._last_activity + limits.stall_secs)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self._clock())
