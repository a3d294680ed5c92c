"""Closing the books on a model run: its ledger row (charged) and its RunFinished event.

Every kind of run that calls the model (Learner, memory distill, agent drafting) ends the
same way, successful or not; this is that one place.
"""

from __future__ import annotations

import time
from pathlib import Path

from llmos.kernel.economy import RunRecord, TokenEconomy
from llmos.kernel.events import RunFinished
from llmos.kernel.run_context import RunContext
from llmos.sdk.types import AgentOutcome


def record_agent_run(
    ctx: RunContext,
    economy: TokenEconomy,
    outcome: AgentOutcome | None,
    *,
    mode: str,
    status: str,
    cost_usd: float,
    error: str | None = None,
    trace_path: Path | None = None,
) -> None:
    """Write the run's ledger row (charging `cost_usd`) and publish `RunFinished`.

    `outcome` is None when the agent never reported (a crash, an interrupt): the tokens
    then come from the live cost meter.
    """
    finished = time.time()
    turns = outcome.turns if outcome else 0
    economy.record_run(
        RunRecord(
            run_id=ctx.run_id,
            started_at=ctx.started_at,
            finished_at=finished,
            goal=ctx.goal,
            project=ctx.project,
            mode=mode,
            model=(outcome.model if outcome else None) or ctx.model,
            status=status,
            cost_usd=cost_usd,
            input_tokens=outcome.input_tokens if outcome else ctx.cost.input_tokens,
            output_tokens=outcome.output_tokens if outcome else ctx.cost.output_tokens,
            turns=turns,
            tool_calls=ctx.tool_calls,
            duration_secs=finished - ctx.started_at,
            trace_path=str(trace_path) if trace_path else None,
            error=error,
        )
    )
    ctx.bus.publish(
        RunFinished(
            run_id=ctx.run_id,
            status=status,
            cost_usd=cost_usd,
            turns=turns,
            tool_calls=ctx.tool_calls,
            duration_secs=finished - ctx.started_at,
            trace_path=str(trace_path) if trace_path else None,
            error=error,
        )
    )
