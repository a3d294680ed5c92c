"""Follower mode: replay a learned trace in Python. No model, no SDK, $0.

Before anything runs, every step that would run passes the same security policy as a live
tool call; a trace file is data from anywhere, so one dangerous step refuses the whole
trace and nothing is executed. A step the policy asks about is put to the run's approver
before the first step runs (`llmos/security/guard.py`); with none, or if the human rejects
it, the trace is refused. Then each step runs in order with its checks. The outcome
(success, divergence, refusal) is counted on the trace, which re-rates it, and the run is
recorded in the ledger at $0 with the cost the model would have charged as `saved_usd`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Literal

from llmos.kernel.economy import RunRecord, TokenEconomy
from llmos.kernel.events import RunFinished, ToolFinished, ToolRequested
from llmos.kernel.run_context import RunContext
from llmos.memory.library import TraceLibrary
from llmos.memory.trace import Trace
from llmos.memory.trace_index import IndexedTrace
from llmos.replay.plan import ReplayPlan, plan_replay
from llmos.replay.steps import Divergence, execute
from llmos.security.guard import Review, RunGuard

FollowerStatus = Literal["success", "diverged", "refused"]


@dataclass(frozen=True)
class FollowerOutcome:
    status: FollowerStatus
    steps_run: int
    detail: str = ""
    saved_usd: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "success"


async def run_follower(
    ctx: RunContext,
    library: TraceLibrary,
    entry: IndexedTrace,
    trace: Trace,
    economy: TokenEconomy,
    *,
    guard: RunGuard | None = None,
) -> FollowerOutcome:
    plan = plan_replay(trace)
    outcome = await _replay(ctx, plan, guard or RunGuard(ctx, source="follower"))
    library.record_outcome(entry, ok=outcome.ok)
    outcome = FollowerOutcome(
        outcome.status,
        outcome.steps_run,
        outcome.detail,
        saved_usd=trace.estimated_cost_usd if outcome.ok else 0.0,
    )
    finished = time.time()
    economy.record_run(
        RunRecord(
            run_id=ctx.run_id,
            started_at=ctx.started_at,
            finished_at=finished,
            goal=ctx.goal,
            project=ctx.project,
            mode="follower",
            model=None,
            status=outcome.status,
            cost_usd=0.0,
            saved_usd=outcome.saved_usd,
            tool_calls=outcome.steps_run,
            duration_secs=finished - ctx.started_at,
            trace_path=str(library.path_of(entry)),
            error=None if outcome.ok else outcome.detail,
        )
    )
    ctx.bus.publish(
        RunFinished(
            run_id=ctx.run_id,
            status=outcome.status,
            cost_usd=0.0,
            turns=0,
            tool_calls=outcome.steps_run,
            duration_secs=finished - ctx.started_at,
            trace_path=str(library.path_of(entry)),
            error=None if outcome.ok else outcome.detail,
        )
    )
    return outcome


async def _preflight(plan: ReplayPlan, guard: RunGuard) -> tuple[str | None, dict[int, Review]]:
    """Why the policy refuses this trace (its first step denied, or asked about and not
    approved), or None; and the steps a human approved, by number."""
    approved: dict[int, Review] = {}
    for planned in plan.to_run:
        step = planned.step
        if guard.check(step.tool, step.input).allowed:
            continue
        review = await guard.review(step.tool, step.input, tool_use_id=f"replay-{planned.number}")
        if not review.allowed:
            decision = review.decision
            return f"step {planned.number} ({step.tool}): {decision.reason} [{decision.rule}]", {}
        approved[planned.number] = review
    return None, approved


async def _replay(ctx: RunContext, plan: ReplayPlan, guard: RunGuard) -> FollowerOutcome:
    refused, approved = await _preflight(plan, guard)
    if refused:
        return FollowerOutcome("refused", 0, f"the security policy refuses {refused}")
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ran = 0
    for planned in plan.to_run:
        step, tool_use_id = planned.step, f"replay-{planned.number}"
        earlier = approved.get(planned.number)
        if earlier is not None and earlier.changed:  # a human changed this step's input
            step = dataclasses.replace(step, input=earlier.tool_input)
        ctx.tool_calls += 1
        ctx.bus.publish(
            ToolRequested(
                run_id=ctx.run_id, tool_use_id=tool_use_id, tool=step.tool, input=step.input
            )
        )
        # Re-checked at the moment of running: an earlier step may have planted a symlink.
        review = await guard.review(
            step.tool, step.input, tool_use_id=tool_use_id, approved=earlier
        )
        if not review.allowed:
            decision = review.decision
            detail = f"step {planned.number} ({step.tool}): {decision.reason} [{decision.rule}]"
            return FollowerOutcome("refused", ran, f"the security policy refuses {detail}")
        try:
            summary = execute(step, ctx.workdir)
        except (Divergence, OSError) as exc:
            ctx.bus.publish(
                ToolFinished(
                    run_id=ctx.run_id,
                    tool_use_id=tool_use_id,
                    tool=step.tool,
                    ok=False,
                    summary=str(exc),
                )
            )
            return FollowerOutcome("diverged", ran, f"step {planned.number} ({step.tool}): {exc}")
        ran += 1
        ctx.bus.publish(
            ToolFinished(
                run_id=ctx.run_id, tool_use_id=tool_use_id, tool=step.tool, ok=True, summary=summary
            )
        )
    return FollowerOutcome("success", ran)
