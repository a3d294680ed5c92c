"""The run lifecycle: how every run opens and closes, in one place.

A run that calls the model (Learner, Orchestrator, `llmos memory distill`, `llmos agents
create --describe`) goes through `model_run`, in this order, so that nothing is spent or
written for a run that cannot happen:

1. model access (`credentials.model_access`: else `NoModelAccessError`, exit 3);
2. its sandbox, for a run whose tool calls run commands (`security/sandbox_run.py`);
3. the battery: `TokenEconomy.authorize(cap, project=)`, the run's project's budget
   included, since the run is charged to that project (`LowBatteryError`, exit 4);
4. its `RunContext`, session log, telemetry and subscribers, and `RunStarted` (`open_run`);
5. the body; then, whatever its end (an error, an interrupt), the ledger row and
   `RunFinished` (`finish_run`), and the bus closed (which seals the session log).

A Follower run opens with `open_run` (no model, no battery) and closes with `finish_run`
at $0. A run killed before step 5 is recorded by the next command (`settle.py`).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from llmos._internal import telemetry
from llmos._internal.credentials import model_access
from llmos._internal.errors import LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.kernel.bus import EventBus, Handler
from llmos._internal.kernel.economy import RunRecord, RunStatus, TokenEconomy
from llmos._internal.kernel.events import Notice, RunFinished, RunStarted
from llmos._internal.kernel.run_context import RunContext, new_run_id
from llmos._internal.memory.session_log import SessionLog
from llmos._internal.security.sandbox_run import RunSandbox
from llmos._internal.workspace import Workspace

if TYPE_CHECKING:
    from llmos._internal.sdk.types import AgentOutcome
    from llmos._internal.security.sandbox_run import Kind as SandboxKind


def open_run(
    ws: Workspace,
    ctx: RunContext,
    *,
    reason: str,
    subscribers: Sequence[tuple[str, Handler]] = (),
    agent: str | None = None,
) -> SessionLog:
    """Subscribe the session log, telemetry (when on) and `subscribers` to the run's bus;
    announce the run (`RunStarted`)."""
    export = telemetry.prepare(ws.settings.telemetry)  # fails before anything is written
    log = SessionLog(ws.sessions_dir, ctx.run_id, parent_run_id=ctx.parent_run)
    log.attach(ctx.bus)  # seals the log when the bus closes
    if export is not None:
        telemetry.attach(export, ctx, log.parent_run_id)
    for name, handler in subscribers:
        ctx.bus.subscribe(handler, name=name)
    ctx.bus.publish(
        RunStarted(
            run_id=ctx.run_id,
            goal=ctx.goal,
            mode=ctx.mode,
            project=ctx.project,
            workdir=str(ctx.workdir),
            model=ctx.model,
            budget_usd=ctx.budget_usd,
            reason=reason,
            agent=agent,
        )
    )
    return log


def finish_run(
    ctx: RunContext, economy: TokenEconomy, record: RunRecord, event: RunFinished | None = None
) -> None:
    """Write the run's ledger row (charging its cost) and publish its `RunFinished` (`event`
    when the run announces more than its row: an orchestration's totals its subtasks')."""
    economy.record_run(record)
    ctx.bus.publish(
        event
        or RunFinished(
            run_id=record.run_id,
            status=record.status,
            cost_usd=record.cost_usd,
            turns=record.turns,
            tool_calls=record.tool_calls,
            duration_secs=record.duration_secs,
            trace_path=record.trace_path,
            error=record.error,
            saved_usd=record.saved_usd,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            model=record.model,
        )
    )


@frozen
class RunEnd:
    """How a model run ended, as its ledger row says: the agent's report (None when it
    never reported: a crash, an interrupt), the status, and why it failed."""

    outcome: AgentOutcome | None
    status: RunStatus
    error: str | None = None
    trace_path: Path | None = None


class ModelRun:
    """A model-calling run that is open (`model_run`): its context (with its bus), session
    log, sandbox and ledger. The body says how it ended (`end`), or gives the ledger row
    of a run that totals its own (`end_with`); else an exception says it."""

    def __init__(
        self, ctx: RunContext, log: SessionLog, economy: TokenEconomy, sandbox: RunSandbox
    ) -> None:
        self.ctx, self.log, self.economy, self.sandbox = ctx, log, economy, sandbox
        self.ending: RunEnd | RunRecord | None = None
        self.announced: RunFinished | None = None
        self.recorded: RunRecord | None = None  # its ledger row, once the run is closed

    def end(
        self,
        outcome: AgentOutcome | None,
        *,
        status: RunStatus | None = None,
        error: str | None = None,
        trace_path: Path | None = None,
    ) -> None:
        """The run's end: `status` defaults to the outcome's (`error` without one)."""
        status = status or (outcome.status if outcome is not None else "error")
        self.ending = RunEnd(outcome, status, error, trace_path)

    def end_with(self, record: RunRecord, announced: RunFinished) -> None:
        """The run's own ledger row, and the `RunFinished` it publishes."""
        self.ending, self.announced = record, announced

    def record(self, failure: BaseException | None) -> RunRecord:
        """The run's ledger row as it ended. A `failure` (what ended the body, if anything)
        decides its status and error; the agent's report, if it came, still its counts."""
        ending = self.ending
        if isinstance(ending, RunRecord):
            return ending
        outcome = ending.outcome if ending is not None else None
        if failure is not None:
            if not isinstance(failure, Exception):  # cancelled, interrupted
                ending = RunEnd(outcome, "interrupted", "interrupted")
            elif ending is None or ending.error is None:
                message = failure.message if isinstance(failure, LlmosError) else str(failure)
                ending = RunEnd(outcome, "error", message or type(failure).__name__)
        if ending is None:
            ending = RunEnd(None, "error", "the run ended without saying how")
        ctx = self.ctx
        finished = time.time()
        return RunRecord(
            run_id=ctx.run_id,
            started_at=ctx.started_at,
            finished_at=finished,
            goal=ctx.goal,
            project=ctx.project,
            mode=ctx.mode,
            model=(outcome.model if outcome else None) or ctx.model,
            status=ending.status,
            # the CLI never reported: charge what the stream showed
            cost_usd=outcome.cost_usd if outcome else ctx.spent_usd,
            input_tokens=outcome.input_tokens if outcome else ctx.cost.input_tokens,
            output_tokens=outcome.output_tokens if outcome else ctx.cost.output_tokens,
            turns=outcome.turns if outcome else 0,
            tool_calls=ctx.tool_calls,
            duration_secs=finished - ctx.started_at,
            trace_path=str(ending.trace_path) if ending.trace_path else None,
            error=ending.error,
            parent_run=ctx.parent_run,
            agent=ctx.agent,
        )


@asynccontextmanager
async def model_run(
    ws: Workspace,
    economy: TokenEconomy,
    *,
    goal: str,
    project: str,
    mode: str,
    budget_usd: float | None,
    reason: str,
    model: str | None = None,
    run_id: str | None = None,
    workdir: Path | None = None,
    env: dict[str, str] | None = None,
    sandbox: SandboxKind | None = None,
    check_access: bool = True,
    subscribers: Sequence[tuple[str, Handler]] = (),
    agent: str | None = None,
    parent_run: str | None = None,
) -> AsyncIterator[ModelRun]:
    """Open a model-calling run (the module's steps 1-4), close it whatever happens (5).

    `check_access=False` for a run that checks model access before each of its own model
    calls (an orchestration whose plan and subtasks all replay needs none); `sandbox`: the
    kind of sandbox its commands run in (None: the run has no tool that runs commands)."""
    if check_access:
        model_access({**os.environ, **(env or {})})
    workdir = workdir or ws.output_dir(project)
    box = RunSandbox(None, "learner")
    if sandbox is not None:
        from llmos._internal.security.policy_file import load_policy
        from llmos._internal.security.sandbox_run import run_sandbox

        policy = load_policy(ws.root, project)
        box = run_sandbox(ws, sandbox, workdir=workdir, policy=policy)
    budget = economy.authorize(budget_usd, project=project)
    ctx = RunContext(
        run_id=run_id or new_run_id(),
        goal=goal,
        project=project,
        workdir=workdir,
        mode=mode,
        budget_usd=budget,
        bus=EventBus(),
        model=model or ws.settings.model,
        parent_run=parent_run,
        agent=agent,
    )
    log = open_run(ws, ctx, reason=reason, subscribers=subscribers, agent=agent)
    if box.notice:
        ctx.bus.publish(Notice(run_id=ctx.run_id, text=box.notice))
    run = ModelRun(ctx, log, economy, box)
    failure: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            run.recorded = run.record(failure)
            finish_run(ctx, economy, run.recorded, run.announced)
        finally:
            await ctx.bus.close()
