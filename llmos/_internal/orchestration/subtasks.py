"""One subtask of an orchestration, run through the dispatcher, retried once if it fails.

Each attempt is a run of its own (`run_goal`): Follower at $0 when a learned trace matches
the subtask's goal, otherwise Learner as the subtask's agent (its prompt, tools and model),
with the results of the subtasks it depends on handed over as context. Its ledger rows and
session log name the orchestration as their parent. Both attempts together spend at most
the subtask's allocation of the budget (`budget.py`). The attempt's own events are
forwarded to the orchestration's bus, compactly, so the terminal can show what each
subtask is doing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmos._internal.agents.catalog import AgentCatalog
from llmos._internal.engine.types import RunRequest, RunSummary
from llmos._internal.errors import AgentError
from llmos._internal.kernel.bus import Handler
from llmos._internal.kernel.events import Event, RunStarted, SubtaskChanged, ToolRequested
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.orchestration.budget import BudgetPool
from llmos._internal.orchestration.executor import Attempt, SubtaskResult
from llmos._internal.orchestration.plan import Subtask
from llmos._internal.workspace import Workspace

if TYPE_CHECKING:
    from llmos._internal.security.approval import Approver

# dispatcher.run_goal, passed in (the dispatcher imports this mode, not the other way round)
RunGoal = Callable[..., Awaitable[RunSummary]]
ATTEMPTS = 2  # a failed subtask is retried once
_CONTEXT_CHARS = 8000  # of each dependency's result handed to a subtask


@dataclass
class SubtaskRunner:
    """Runs a plan's subtasks through the dispatcher, each within its share of the budget."""

    ws: Workspace
    ctx: RunContext  # the orchestration's
    request: RunRequest  # the orchestration's
    catalog: AgentCatalog
    pool: BudgetPool
    run_goal: RunGoal
    env: dict[str, str] | None = None
    deadline: float | None = None  # time.monotonic() by which everything must end
    round: int = 1
    approver: Approver | None = None  # asked about what the policy asks, as in any run

    def key(self, subtask: Subtask) -> str:
        return f"{self.round}:{subtask.id}"

    async def __call__(self, subtask: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        key = self.key(subtask)
        cap = self.pool.cap(key)
        spec = self.catalog.require(subtask.agent)
        attempts: list[Attempt] = []
        error = ""
        self.publish(subtask, "running")
        for number in range(1, ATTEMPTS + 1):
            budget = self.pool.left(key)
            timeout = self._time_left()
            if budget <= 0:
                error = error or "its share of the budget is spent"
                break
            if timeout is not None and timeout <= 0:
                error = error or "the orchestration's time limit (--timeout) ran out"
                break
            if number > 1:
                self.publish(subtask, "retrying", detail=error)
            attempt_request = RunRequest(
                goal=subtask.goal,
                mode="auto",
                project=self.request.project,
                budget_usd=budget,
                model=spec.model or self.ctx.model,
                max_turns=self.request.max_turns,
                timeout_secs=timeout,
                agent=spec,
                context=handover(deps, retry_error=error if number > 1 else ""),
                parent_run=self.ctx.run_id,  # its rows and log name the orchestration
            )
            attempt = await self._attempt(subtask, attempt_request)
            attempts.append(attempt)
            self.pool.charge(key, attempt.cost_usd)
            if attempt.ok:
                self.pool.close(key)
                self.publish(subtask, "success", attempt=attempt)
                return SubtaskResult(
                    subtask, "success", attempt.result, None, tuple(attempts), cap, self.round
                )
            error = attempt.error or attempt.status
        self.pool.close(key)
        last = attempts[-1] if attempts else None
        self.publish(subtask, "failed", attempt=last, detail=error)
        return SubtaskResult(subtask, "failed", "", error, tuple(attempts), cap, self.round)

    async def _attempt(self, subtask: Subtask, request: RunRequest) -> Attempt:
        subscribers: Sequence[tuple[str, Handler]] = [("orchestrator", self._forwarder(subtask))]
        started = time.time()
        try:
            summary = await self.run_goal(
                self.ws, request, subscribers=subscribers, env=self.env, approver=self.approver
            )
        except AgentError as exc:  # the CLI failed: worth a retry, like a failed run
            return Attempt("", "learner", "error", 0.0, 0.0, time.time() - started, error=str(exc))
        attempt = Attempt(
            run_id=summary.run_id,
            mode=summary.mode,
            status=summary.status,
            cost_usd=summary.cost_usd,
            saved_usd=summary.saved_usd,
            duration_secs=summary.duration_secs,
            turns=summary.turns,
            tool_calls=summary.tool_calls,
            trace_path=summary.trace_path,
            error=summary.error,
            result=summary.result,
        )
        return attempt

    def _time_left(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def _forwarder(self, subtask: Subtask) -> Handler:
        async def forward(event: Event) -> None:  # async: publishes from the loop's thread
            if isinstance(event, RunStarted):
                self.publish(subtask, "running", mode=event.mode, child_run_id=event.run_id)
            elif isinstance(event, ToolRequested):
                self.publish(subtask, "running", detail=action(event.tool, event.input))

        return forward

    def publish(
        self,
        subtask: Subtask,
        status: str,
        *,
        attempt: Attempt | None = None,
        mode: str | None = None,
        child_run_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.ctx.bus.publish(
            SubtaskChanged(
                run_id=self.ctx.run_id,
                subtask_id=subtask.id,
                status=status,
                agent=subtask.agent,
                mode=mode or (attempt.mode if attempt else None),
                child_run_id=child_run_id or (attempt.run_id if attempt else None) or None,
                cost_usd=self.pool.cap(self.key(subtask)) - self.pool.left(self.key(subtask)),
                detail=detail,
            )
        )


def handover(deps: Mapping[str, SubtaskResult], *, retry_error: str = "") -> str:
    """What a subtask is told besides its goal: its dependencies' results, a past failure."""
    parts = []
    if deps:
        parts.append("Results of the subtasks this one builds on:")
        for result in deps.values():
            text = result.result.strip()[:_CONTEXT_CHARS] or "(no report)"
            parts.append(f"## {result.subtask.id} [{result.subtask.agent}]: {result.subtask.goal}")
            parts.append(text)
    if retry_error:
        parts.append(f"A previous attempt at this subtask failed: {retry_error}")
    return "\n\n".join(parts)


def action(tool: str, tool_input: Mapping[str, Any]) -> str:
    """A tool call in a few words, for the live view."""
    for key in ("command", "file_path", "notebook_path", "pattern", "path", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return f"{tool} {' '.join(value.split())[:80]}"
    return f"{tool} {json.dumps(tool_input, ensure_ascii=False)[:80]}"
