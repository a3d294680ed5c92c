"""Follower mode: replay a learned trace in Python. No model, no SDK, $0.

Before anything runs, every step that would run passes the same security policy as a live
tool call (`preflight`); a trace file is data from anywhere, so one dangerous step refuses
the whole trace and nothing is executed. The steps the policy asks about are put to the
run's approver before the first step runs (`ask_before_replay`, `llmos/security/guard.py`);
with none, or if the human rejects one, the trace is refused. Then each step runs in order
with its checks (`run_follower`). The outcome (success, divergence, refusal) is counted on
the trace, which re-rates it, and the run is recorded in the ledger at $0 with the cost the
model would have charged as `saved_usd`.

Only asking a human needs an event loop: the replay itself is plain synchronous Python, so
`llmos run` replays without importing asyncio (llmos/modes/dispatcher.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmos.kernel.accounting import finish_run
from llmos.kernel.economy import RunRecord, TokenEconomy
from llmos.kernel.events import ToolFinished, ToolRequested
from llmos.kernel.run_context import RunContext
from llmos.memory.library import TraceLibrary
from llmos.memory.trace import Trace
from llmos.memory.trace_index import IndexedTrace
from llmos.replay.plan import PlannedStep, ReplayPlan
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


@dataclass(frozen=True)
class Preflight:
    """What the policy says of a replay before its first step."""

    refusal: str | None = None  # why the trace is refused, if it is
    questions: tuple[PlannedStep, ...] = ()  # steps to put to the run's approver first
    approved: Mapping[int, Review] = field(default_factory=dict)  # by step number


def preflight(plan: ReplayPlan, guard: RunGuard) -> Preflight:
    """The policy's verdict on every step that would run. One it denies refuses the trace
    (so does one it asks about, when nobody can be asked), before any human is bothered."""
    questions = []
    for planned in plan.to_run:
        step = planned.step
        verdict = guard.check(step.tool, step.input)
        if verdict.allowed:
            continue
        if verdict.asks and guard.approver is not None:
            questions.append(planned)
            continue
        review = guard.review_now(step.tool, step.input, tool_use_id=_use_id(planned))
        return Preflight(refusal=_refused(planned, review))
    return Preflight(questions=tuple(questions))


async def ask_before_replay(checked: Preflight, guard: RunGuard) -> Preflight:
    """Put the preflight's questions to the approver, in step order; one rejection refuses
    the trace."""
    approved: dict[int, Review] = {}
    for planned in checked.questions:
        step = planned.step
        review = await guard.review(step.tool, step.input, tool_use_id=_use_id(planned))
        if not review.allowed:
            return Preflight(refusal=_refused(planned, review))
        approved[planned.number] = review
    return Preflight(approved=approved)


def run_follower(
    ctx: RunContext,
    library: TraceLibrary,
    entry: IndexedTrace,
    trace: Trace,
    plan: ReplayPlan,
    checked: Preflight,
    economy: TokenEconomy,
    *,
    guard: RunGuard,
) -> FollowerOutcome:
    """Replay `plan` (whose preflight, questions answered, is `checked`), then count the
    outcome on the trace and record the run in the ledger."""
    assert not checked.questions, "ask_before_replay answers the questions first"
    if checked.refusal:
        outcome = FollowerOutcome("refused", 0, f"the security policy refuses {checked.refusal}")
    else:
        outcome = _replay(ctx, plan, guard, checked.approved)
    library.record_outcome(entry, ok=outcome.ok)
    outcome = FollowerOutcome(
        outcome.status,
        outcome.steps_run,
        outcome.detail,
        saved_usd=trace.estimated_cost_usd if outcome.ok else 0.0,
    )
    finished = time.time()
    finish_run(
        ctx,
        economy,
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
        ),
    )
    return outcome


def _use_id(planned: PlannedStep) -> str:
    return f"replay-{planned.number}"


def _refused(planned: PlannedStep, review: Review) -> str:
    decision = review.decision
    return f"step {planned.number} ({planned.step.tool}): {decision.reason} [{decision.rule}]"


def _replay(
    ctx: RunContext, plan: ReplayPlan, guard: RunGuard, approved: Mapping[int, Review]
) -> FollowerOutcome:
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ran = 0
    for planned in plan.to_run:
        step, tool_use_id = planned.step, _use_id(planned)
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
        review = guard.review_now(step.tool, step.input, tool_use_id=tool_use_id, approved=earlier)
        if not review.allowed:
            refusal = _refused(planned, review)
            return FollowerOutcome("refused", ran, f"the security policy refuses {refusal}")
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
