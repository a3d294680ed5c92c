"""Follower mode: replay a learned trace in Python. No model, no SDK, $0.

Before anything runs, every step that would run passes the same security policy as a live
tool call (`preflight`); a trace file is data from anywhere, so one dangerous step refuses
the whole trace and nothing is executed. The steps the policy asks about are put to the
run's approver before the first step runs (`ask_before_replay`,
`llmos/_internal/security/guard.py`); with none, or if the human rejects one, the trace is refused.
(That the files it touches are as it expects was checked when the mode was chosen:
llmos/_internal/modes/choice.py.)

Then each step runs in order with its checks (`run_follower`), under the run's time limits
(`--timeout`, `tool_timeout_secs`). It is all or nothing: before a step changes a file, the
run's checkpoint keeps what it changes, and if a step diverges, is refused, times out or is
interrupted, every file the replay changed is put back (llmos/_internal/replay/checkpoint.py). The
outcome is counted on the trace (when the goal matched it exactly), which re-rates it, and
the run is recorded in the ledger at $0 with the cost the model would have charged as
`saved_usd`.

Only asking a human needs an event loop: the replay itself is plain synchronous Python, so
`llmos run` replays without importing asyncio (llmos/_internal/modes/dispatcher.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Literal

from llmos._internal.engine.governed.replay import replay_refusal
from llmos._internal.engine.lifecycle import finish_run
from llmos._internal.frozen import frozen
from llmos._internal.governance.kinds import classify
from llmos._internal.kernel.economy import RunRecord, TokenEconomy
from llmos._internal.kernel.events import Notice, ToolFinished, ToolRequested
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.modes.choice import Replay
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.plan import PlannedStep, ReplayPlan
from llmos._internal.replay.steps import Divergence, StepTimeout, execute
from llmos._internal.security.guard import Review, RunGuard

if TYPE_CHECKING:
    from llmos._internal.governance.policy import GovernancePolicy
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.security.sandbox import SandboxProfile

FollowerStatus = Literal["success", "diverged", "refused", "timed_out", "interrupted"]
# Outcomes that say something about the trace (an interrupt or the user's time limit do not).
_COUNTED: frozenset[str] = frozenset({"success", "diverged", "refused"})


@frozen
class FollowerOutcome:
    """How a replay ended: what it ran, what it saved and what it put back."""

    status: FollowerStatus
    steps_run: int
    detail: str = ""
    saved_usd: float = 0.0
    result: str = ""  # the answer the run reports
    restored: tuple[str, ...] = ()  # files put back by the rollback

    @property
    def ok(self) -> bool:
        return self.status == "success"


@frozen
class Preflight:
    """What the policy says of a replay before its first step."""

    refusal: str | None = None  # why the trace is refused, if it is
    questions: tuple[PlannedStep, ...] = ()  # steps to put to the run's approver first
    approved: Mapping[int, Review] = field(default_factory=dict)  # by step number


@frozen
class Limits:
    """When a replay must end: the run's deadline (`--timeout`) and one step's limit."""

    deadline: float | None = None  # time.time() value
    tool_secs: float | None = None

    def for_step(self) -> float | None:
        limits = [s for s in (self.tool_secs,) if s]
        if self.deadline is not None:
            limits.append(self.deadline - time.time())
        return min(limits) if limits else None


def preflight(
    plan: ReplayPlan,
    guard: RunGuard,
    *,
    governance: GovernancePolicy | None = None,
    tools: RunTools | None = None,
) -> Preflight:
    """The policy's verdict on every step that would run. One it denies refuses the trace
    (so does one it asks about, when nobody can be asked), before any human is bothered.
    The run's `governance` checks the steps first (with its `tools`)."""
    # governance's checkers over the steps
    refusal = replay_refusal(plan, guard.ctx, governance=governance, tools=tools)
    if refusal is not None:
        return Preflight(refusal=refusal)
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
    replay: Replay,
    checked: Preflight,
    *,
    library: TraceLibrary,
    economy: TokenEconomy,
    guard: RunGuard,
    checkpoint: Checkpoint,
    limits: Limits,
    tools: RunTools | None = None,
    sandbox: SandboxProfile | None = None,
) -> FollowerOutcome:
    """Replay `replay.plan` (whose preflight, questions answered, is `checked`), roll back
    what it changed unless it succeeds, then count the outcome on the trace and record the
    run in the ledger. Plugin steps call the run's `tools`; commands run in `sandbox` (the
    profile `sandbox_run.in_use` gives; None: without one)."""
    assert not checked.questions, "ask_before_replay answers the questions first"
    if checked.refusal:
        outcome = FollowerOutcome("refused", 0, f"the security policy refuses {checked.refusal}")
    else:
        outcome = _replay(
            ctx, replay, guard, checked.approved, checkpoint, limits, tools=tools, sandbox=sandbox
        )
    if outcome.ok:
        checkpoint.seal()  # for `llmos undo`
    else:
        outcome = _rolled_back(ctx, outcome, checkpoint)
    if replay.counts and outcome.status in _COUNTED:
        library.record_outcome(replay.entry, ok=outcome.ok)
    saved = replay.trace.estimated_cost_usd if outcome.ok else 0.0
    outcome = dataclasses.replace(outcome, saved_usd=saved)
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
            trace_path=str(library.path_of(replay.entry)),
            error=None if outcome.ok else outcome.detail,
            parent_run=ctx.parent_run,
            agent=ctx.agent,
        ),
    )
    return outcome


def _use_id(planned: PlannedStep) -> str:
    return f"replay-{planned.number}"


def _refused(planned: PlannedStep, review: Review) -> str:
    decision = review.decision
    return f"step {planned.number} ({planned.step.tool}): {decision.reason} [{decision.rule}]"


def _rolled_back(
    ctx: RunContext, outcome: FollowerOutcome, checkpoint: Checkpoint
) -> FollowerOutcome:
    restored = tuple(checkpoint.rollback())
    if not restored:
        return outcome
    more = f" and {len(restored) - 5} more" if len(restored) > 5 else ""
    shown = ", ".join(restored[:5]) + more
    note = f"rolled back: {shown} put back as before the replay"
    ctx.bus.publish(Notice(run_id=ctx.run_id, text=note))
    return dataclasses.replace(outcome, detail=f"{outcome.detail}; {note}", restored=restored)


def _replay(
    ctx: RunContext,
    replay: Replay,
    guard: RunGuard,
    approved: Mapping[int, Review],
    checkpoint: Checkpoint,
    limits: Limits,
    *,
    tools: RunTools | None,
    sandbox: SandboxProfile | None,
) -> FollowerOutcome:
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ran = 0
    outputs: list[tuple[str, str]] = []  # (recorded, replayed) output of each command
    try:
        for planned in replay.plan.to_run:
            step, tool_use_id = planned.step, _use_id(planned)
            earlier = approved.get(planned.number)
            if earlier is not None and earlier.changed:  # a human changed this step's input
                step = dataclasses.replace(step, input=earlier.tool_input)
            ctx.tool_calls += 1
            ctx.bus.publish(
                ToolRequested(
                    run_id=ctx.run_id,
                    tool_use_id=tool_use_id,
                    tool=step.tool,
                    input=step.input,
                    step_type=classify(step.tool, step.input).type,
                )
            )
            # Re-checked at the moment of running: an earlier step may have planted a symlink.
            review = guard.review_now(
                step.tool, step.input, tool_use_id=tool_use_id, approved=earlier
            )
            if not review.allowed:
                refusal = _refused(planned, review)
                return FollowerOutcome("refused", ran, f"the security policy refuses {refusal}")
            try:
                done = execute(
                    step,
                    ctx.workdir,
                    checkpoint,
                    limit_secs=limits.for_step(),
                    tools=tools,
                    sandbox=sandbox,
                )
            except (Divergence, StepTimeout, OSError) as exc:
                _finished(ctx, tool_use_id, step.tool, ok=False, summary=str(exc))
                status: FollowerStatus = "timed_out" if isinstance(exc, StepTimeout) else "diverged"
                return FollowerOutcome(status, ran, f"step {planned.number} ({step.tool}): {exc}")
            ran += 1
            if done.output is not None:
                outputs.append((step.result, done.output))
            _finished(ctx, tool_use_id, step.tool, ok=True, summary=done.summary)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP turned into one by the CLI
        return FollowerOutcome("interrupted", ran, "interrupted")
    return FollowerOutcome("success", ran, result=_answer(replay, outputs))


def _finished(ctx: RunContext, tool_use_id: str, tool: str, *, ok: bool, summary: str) -> None:
    ctx.bus.publish(
        ToolFinished(run_id=ctx.run_id, tool_use_id=tool_use_id, tool=tool, ok=ok, summary=summary)
    )


def _answer(replay: Replay, outputs: list[tuple[str, str]]) -> str:
    """The recorded answer, if this replay saw what the learning run saw: every command
    printed what it printed then. Otherwise the answer may not hold, so the run says what it
    did instead, with the last command's output."""
    recorded = replay.bound.trace.result
    if all(then == now for then, now in outputs):
        return recorded
    last = outputs[-1][1]
    how = f" with {_values(replay)}" if replay.bound.substituted else ""
    return (
        f"Replayed the steps of trace {replay.entry.signature}{how}. Their output differs "
        f"from when the goal was learned, so its recorded answer is not repeated. "
        f"Last output: {last}"
    )


def _values(replay: Replay) -> str:
    return ", ".join(f"{old} -> {new}" for old, new in replay.bound.values.items())
