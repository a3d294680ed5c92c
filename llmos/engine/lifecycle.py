"""Closing the books on a run: its ledger row (charged) and its RunFinished event.

Every run ends the same way, successful or not: `finish_run`. Those that call the model
(Learner, memory distill, agent drafting) go through `record_agent_run`, which builds the row
from what the agent reported. (An orchestration's event also totals its subtasks' runs, so
it writes its own: llmos/modes/orchestrator.py.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmos.kernel.economy import RunRecord, TokenEconomy
from llmos.kernel.events import RunFinished
from llmos.kernel.run_context import RunContext

if TYPE_CHECKING:
    from llmos.sdk.types import AgentOutcome


def finish_run(ctx: RunContext, economy: TokenEconomy, record: RunRecord) -> None:
    """Write the run's ledger row (charging its cost) and publish its `RunFinished`."""
    economy.record_run(record)
    ctx.bus.publish(
        RunFinished(
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
    finish_run(
        ctx,
        economy,
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
            turns=outcome.turns if outcome else 0,
            tool_calls=ctx.tool_calls,
            duration_secs=finished - ctx.started_at,
            trace_path=str(trace_path) if trace_path else None,
            error=error,
        ),
    )
