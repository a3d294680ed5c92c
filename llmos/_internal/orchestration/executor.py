"""Run a plan's subtasks in dependency order, independent ones at the same time.

Plain asyncio over an injected `run` function (the orchestrator's, which goes through the
dispatcher), so the graph logic is tested without a model. Rules:

- a subtask starts once every subtask it depends on has succeeded, and at most
  `parallel` run at once; among those ready, the plan's order decides;
- `run` receives the results of the subtask's dependencies (their text is passed on);
- once a subtask has failed (after its retry, which `run` does), nothing new starts: the
  subtasks already running finish (their work may serve a revised plan), the others are
  reported as skipped, with the reason;
- an exception from `run` (no model access, a flat battery: nothing more can run) cancels
  the subtasks in flight and propagates, as does cancelling the executor itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from llmos._internal.frozen import frozen
from llmos._internal.orchestration.plan import Plan, Subtask

SubtaskStatus = Literal["success", "failed", "skipped"]


@frozen
class Attempt:
    """One run of a subtask through the dispatcher (a Learner or a Follower run)."""

    run_id: str
    mode: str
    status: str
    cost_usd: float
    saved_usd: float
    duration_secs: float
    turns: int = 0
    tool_calls: int = 0
    trace_path: str | None = None
    error: str | None = None
    result: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "success"


@frozen
class SubtaskResult:
    """How one subtask of a plan ended, over all its attempts."""

    subtask: Subtask
    status: SubtaskStatus
    result: str = ""
    error: str | None = None
    attempts: tuple[Attempt, ...] = ()
    cap_usd: float = 0.0
    round: int = 1  # 2 for a subtask of a revised plan

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)

    @property
    def saved_usd(self) -> float:
        return sum(a.saved_usd for a in self.attempts)

    @property
    def mode(self) -> str | None:
        return self.attempts[-1].mode if self.attempts else None

    @property
    def trace_path(self) -> str | None:
        return self.attempts[-1].trace_path if self.attempts and self.ok else None


RunSubtask = Callable[[Subtask, Mapping[str, SubtaskResult]], Awaitable[SubtaskResult]]
OnSkip = Callable[[SubtaskResult], None]


async def execute_plan(
    plan: Plan,
    run: RunSubtask,
    *,
    parallel: int,
    done: Mapping[str, SubtaskResult] | None = None,
    on_skip: OnSkip | None = None,
) -> dict[str, SubtaskResult]:
    """Run `plan`; return every subtask's result (success, failed or skipped), by id.

    `done` holds results of an earlier round that subtasks of `plan` may depend on.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    finished: dict[str, SubtaskResult] = dict(done or {})
    results: dict[str, SubtaskResult] = {}
    running: dict[asyncio.Task[SubtaskResult], Subtask] = {}
    waiting = list(plan.subtasks)
    halted_by: str | None = None
    try:
        while True:
            while halted_by is None and len(running) < parallel:
                ready = next((s for s in waiting if _ready(s, finished)), None)
                if ready is None:
                    break
                waiting.remove(ready)
                deps = {d: finished[d] for d in ready.depends_on}
                running[asyncio.ensure_future(run(ready, deps))] = ready
            if not running:
                break
            completed, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in completed:
                subtask = running.pop(task)
                result = task.result()  # an exception here ends the orchestration
                results[subtask.id] = finished[subtask.id] = result
                if not result.ok and halted_by is None:
                    halted_by = subtask.id
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    for subtask in waiting:
        reason = _skip_reason(subtask, finished, halted_by)
        skipped = SubtaskResult(subtask, "skipped", error=reason)
        results[subtask.id] = skipped
        if on_skip is not None:
            on_skip(skipped)
    return {s.id: results[s.id] for s in plan.subtasks}


def _ready(subtask: Subtask, finished: Mapping[str, SubtaskResult]) -> bool:
    return all(d in finished and finished[d].ok for d in subtask.depends_on)


def _skip_reason(
    subtask: Subtask, finished: Mapping[str, SubtaskResult], halted_by: str | None
) -> str:
    failed = [d for d in subtask.depends_on if d in finished and not finished[d].ok]
    if failed:
        return f"not run: it depends on {', '.join(failed)}, which did not succeed"
    blocked = [d for d in subtask.depends_on if d not in finished]
    if blocked:
        return f"not run: it waits for {', '.join(blocked)}, which never ran"
    return f"not run: subtask {halted_by} failed first"
