"""Follower mode: replay a learned trace in Python. No model, no SDK, $0.

Before anything runs, every step that would run passes the same security policy as a live
tool call; a trace file is data from anywhere, so one dangerous step refuses the whole
trace and nothing is executed. Then each step runs in order with its checks. The outcome
(success, divergence, refusal) is counted on the trace, which re-rates it, and the run is
recorded in the ledger at $0 with the cost the model would have charged as `saved_usd`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from llmos.kernel.economy import RunRecord, TokenEconomy
from llmos.kernel.events import RunFinished, ToolDecision, ToolFinished, ToolRequested
from llmos.kernel.run_context import RunContext
from llmos.memory.library import TraceLibrary
from llmos.memory.trace import Trace
from llmos.memory.trace_index import IndexedTrace
from llmos.replay.plan import ReplayPlan, plan_replay
from llmos.replay.steps import Divergence, execute
from llmos.security.policy import check_tool_call

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


def refusal(plan: ReplayPlan, ctx: RunContext) -> str | None:
    """Why the policy refuses this trace (the first step it would deny), or None."""
    for planned in plan.to_run:
        decision = check_tool_call(
            planned.step.tool, planned.step.input, workdir=ctx.workdir, home=ctx.home
        )
        if not decision.allowed:
            return (
                f"step {planned.number} ({planned.step.tool}): {decision.reason} [{decision.rule}]"
            )
    return None


def run_follower(
    ctx: RunContext,
    library: TraceLibrary,
    entry: IndexedTrace,
    trace: Trace,
    economy: TokenEconomy,
) -> FollowerOutcome:
    plan = plan_replay(trace)
    outcome = _replay(ctx, plan)
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


def _replay(ctx: RunContext, plan: ReplayPlan) -> FollowerOutcome:
    refused = refusal(plan, ctx)
    if refused:
        return FollowerOutcome("refused", 0, f"the security policy refuses {refused}")
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ran = 0
    for planned in plan.to_run:
        step, tool_use_id = planned.step, f"replay-{planned.number}"
        ctx.tool_calls += 1
        ctx.bus.publish(
            ToolRequested(
                run_id=ctx.run_id, tool_use_id=tool_use_id, tool=step.tool, input=step.input
            )
        )
        # Re-checked at the moment of running: an earlier step may have planted a symlink.
        decision = check_tool_call(step.tool, step.input, workdir=ctx.workdir, home=ctx.home)
        ctx.bus.publish(
            ToolDecision(
                run_id=ctx.run_id,
                tool_use_id=tool_use_id,
                tool=step.tool,
                allowed=decision.allowed,
                guard="security",
                rule=decision.rule,
                reason=decision.reason,
            )
        )
        if not decision.allowed:
            ctx.denied_calls += 1
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
