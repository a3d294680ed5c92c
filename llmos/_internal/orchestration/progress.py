"""What an orchestration has done so far, and how `--json` reports it.

Kept by `llmos/_internal/modes/orchestrator.py` as the run goes; its ledger row, its summary and
its orchestration trace are all made from it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from llmos._internal.kernel.economy import RunStatus
from llmos._internal.orchestration.executor import SubtaskResult
from llmos._internal.orchestration.plan import Plan, Subtask

# Where an orchestration's plan came from: made by the planner, a learned one reused, or
# revised after a subtask failed.
PlanSource = Literal["planner", "reused", "revised"]


@dataclasses.dataclass
class Progress:
    """What the orchestration has done so far: for its summary, ledger row and trace."""

    plan_source: PlanSource = "planner"
    planning_cost: float = 0.0
    planning_turns: int = 0
    planning_asks: int = 0
    synthesis_cost: float = 0.0
    synthesis_turns: int = 0
    synthesis_reused: bool = False
    saved: float = 0.0
    rounds: int = 0
    execution_secs: float = 0.0  # wall time spent running subtasks (all rounds)
    plan: Plan | None = None  # everything that ran, over all rounds
    results: dict[str, SubtaskResult] = dataclasses.field(default_factory=dict)
    status: RunStatus = "error"
    error: str | None = None
    answer: str = ""
    record_path: Path | None = None
    model: str | None = None

    @property
    def own_cost(self) -> float:
        return self.planning_cost + self.synthesis_cost


def report(p: Progress, *, parallel: int, budget_usd: float) -> dict[str, Any]:
    """The `orchestration` part of `--json`: the plan and each subtask's outcome."""
    subtasks = []
    for result in p.results.values():
        sub: Subtask = result.subtask
        subtasks.append(
            {
                **sub.to_dict(),
                "round": result.round,
                "status": result.status,
                "mode": result.mode,
                "cap_usd": round(result.cap_usd, 6),
                "cost_usd": round(result.cost_usd, 6),
                "saved_usd": round(result.saved_usd, 6),
                "duration_secs": round(sum(a.duration_secs for a in result.attempts), 3),
                "result": result.result,
                "error": result.error,
                "trace_path": result.trace_path,
                "attempts": [
                    {
                        "run_id": a.run_id,
                        "mode": a.mode,
                        "status": a.status,
                        "cost_usd": round(a.cost_usd, 6),
                        "error": a.error,
                    }
                    for a in result.attempts
                ],
            }
        )
    return {
        "plan_source": p.plan_source,
        "plan": p.plan.to_dict() if p.plan else None,
        "rounds": p.rounds,
        "parallel": parallel,
        "execution_secs": round(p.execution_secs, 3),
        "budget_usd": round(budget_usd, 6),
        "planning": {
            "cost_usd": round(p.planning_cost, 6),
            "asks": p.planning_asks,
            "reused": p.plan_source == "reused",
        },
        "synthesis": {"cost_usd": round(p.synthesis_cost, 6), "reused": p.synthesis_reused},
        "subtasks": subtasks,
    }
