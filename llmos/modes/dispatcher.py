"""The dispatcher: decides how a goal runs and drives that run from start to summary.

Today every goal that needs a model runs in Learner mode; Follower (replay of a learned
trace) and Orchestrator (a plan over several agents) plug in here as they land.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from llmos.credentials import model_access
from llmos.errors import UsageError
from llmos.kernel.bus import EventBus, Handler
from llmos.kernel.economy import TokenEconomy
from llmos.kernel.events import RunStarted
from llmos.kernel.run_context import RunContext
from llmos.memory.session_log import SessionLog
from llmos.modes.learner import run_learner
from llmos.modes.types import MODES, RunRequest, RunSummary
from llmos.workspace import Workspace

_NOT_YET = {
    "follower": "Follower mode (replaying a learned trace) is not available in this version",
    "orchestrator": "Orchestrator mode (planning over several agents) is not available yet",
}


def choose_mode(request: RunRequest) -> tuple[str, str]:
    """The mode a goal runs in, and why."""
    if request.mode not in MODES:
        raise UsageError(f"unknown mode {request.mode!r}", hint=f"Use one of: {', '.join(MODES)}.")
    if request.mode in _NOT_YET:
        raise UsageError(_NOT_YET[request.mode], hint="Use --mode learner or --mode auto.")
    if request.mode == "learner":
        return "learner", "asked for with --mode learner"
    return "learner", "auto: no learned trace can be replayed yet, so the model learns the goal"


async def run_goal(
    ws: Workspace,
    request: RunRequest,
    *,
    subscribers: Sequence[tuple[str, Handler]] = (),
    env: dict[str, str] | None = None,
) -> RunSummary:
    """Run one goal to completion. Expected failures raise `LlmosError` before spending."""
    if not request.goal.strip():
        raise UsageError("the goal is empty", hint='Say what to do: llmos run "goal".')
    mode, reason = choose_mode(request)
    workdir = ws.output_dir(request.project)
    model_access({**os.environ, **(env or {})})  # before anything is spent or written
    economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
    try:
        budget = economy.authorize(request.budget_usd)
        bus = EventBus()
        ctx = RunContext(
            goal=request.goal,
            project=request.project,
            workdir=workdir,
            mode=mode,
            budget_usd=budget,
            bus=bus,
            model=request.model or ws.settings.model,
        )
        log = SessionLog(ws.sessions_dir, ctx.run_id)
        bus.subscribe(log, name="session-log")
        for name, handler in subscribers:
            bus.subscribe(handler, name=name)
        bus.publish(
            RunStarted(
                run_id=ctx.run_id,
                goal=ctx.goal,
                mode=mode,
                project=ctx.project,
                workdir=str(workdir),
                model=ctx.model,
                budget_usd=budget,
                reason=reason,
            )
        )
        try:
            outcome, trace_path, error = await run_learner(ws, request, ctx, economy, env=env)
        finally:
            await bus.close()
        return RunSummary(
            run_id=ctx.run_id,
            goal=ctx.goal,
            mode=mode,
            mode_reason=reason,
            status=outcome.status if outcome else "error",
            project=ctx.project,
            workdir=str(workdir),
            model=(outcome.model if outcome else None) or ctx.model,
            turns=outcome.turns if outcome else 0,
            tool_calls=ctx.tool_calls,
            denied_calls=ctx.denied_calls,
            cost_usd=outcome.cost_usd if outcome else ctx.spent_usd,
            saved_usd=0.0,
            duration_secs=outcome.duration_secs if outcome else 0.0,
            balance_usd=economy.balance,
            result=outcome.result_text if outcome else "",
            trace_path=str(trace_path) if trace_path else None,
            session_log=str(log.path),
            error=error,
        )
    finally:
        economy.close()
