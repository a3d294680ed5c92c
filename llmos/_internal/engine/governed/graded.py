"""The model-graded evaluator (off by default): one tool-less call, with its own small budget,
asks a model to grade how well the run reached its goal, as structured output (a score from
0 to 1 and a reason). Its cost is added to the run's. It runs only after a run that
succeeded, only within what is left of the run's budget, and never fails the run: a call
that fails gives no score.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from llmos._internal.governance.evaluators import Score
from llmos._internal.governance.history import History

if TYPE_CHECKING:
    from llmos._internal.kernel.run_context import RunContext
    from llmos._internal.sdk.types import AgentOutcome

log = logging.getLogger(__name__)

NAME = "model_graded"
MIN_BUDGET_USD = 0.01  # below this a model call cannot be paid for
_STEPS_SHOWN = 60
SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string", "maxLength": 500},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}
SYSTEM = (
    "You grade the work of an AI agent. Given its goal, the tool calls it made (with whether "
    "each worked) and its final answer, score from 0 (the goal was not reached) to 1 (fully "
    "and carefully reached) and say why in one sentence. Answer only with the StructuredOutput "
    "tool."
)


def grading_prompt(history: History, answer: str) -> str:
    lines = [f"Goal: {history.goal}", "", "Tool calls:"]
    for step in history.steps[-_STEPS_SHOWN:]:
        mark = "ok" if step.ok else "FAILED"
        lines.append(f"- [{step.type}] {step.describe()}: {mark}")
    if not history.steps:
        lines.append("(none)")
    lines += ["", f"Final answer: {answer[:2000]}"]
    return "\n".join(lines)


async def grade_run(
    ctx: RunContext,
    history: History,
    outcome: AgentOutcome,
    settings: dict[str, Any],
    env: dict[str, str] | None = None,
) -> tuple[Score | None, float]:
    """The grade (None if the call could not be made or failed) and what the call cost."""
    from llmos._internal.kernel.bus import EventBus
    from llmos._internal.kernel.run_context import RunContext as Context
    from llmos._internal.sdk.structured import ask_structured

    budget = min(float(settings["budget_usd"]), ctx.budget_usd - outcome.cost_usd)
    if budget < MIN_BUDGET_USD:
        log.info("model_graded skipped: $%.4f left of the run's budget", budget)
        return None, 0.0
    # Its own context: the grading call's events are not the run's (its cost is added below).
    grading = Context(
        goal=ctx.goal,
        project=ctx.project,
        workdir=ctx.workdir,
        mode="evaluate",
        budget_usd=budget,
        bus=EventBus(),
        model=settings["model"],
    )
    try:
        answer = await ask_structured(
            grading,
            prompt=grading_prompt(history, outcome.result_text),
            system=SYSTEM,
            schema=SCHEMA,
            budget_usd=budget,
            model=settings["model"],
            workdir=ctx.workdir,
            env=env,
        )
    except Exception as exc:  # an evaluator never fails the run
        log.warning("model_graded failed: %s", exc)
        return None, grading.spent_usd
    finally:
        await grading.bus.close()
    cost = answer.outcome.cost_usd
    data = answer.data
    if data is None or not isinstance(data.get("score"), int | float):
        log.warning("model_graded gave no grade: %s", answer.problem)
        return None, cost
    score = max(0.0, min(1.0, float(data["score"])))
    minimum = float(settings["min_score"])
    reason = str(data.get("reason", ""))
    detail = f"{score:.2f} by {settings['model']} (${answer.outcome.cost_usd:.4f}): {reason}"
    measures = {"cost_usd": round(answer.outcome.cost_usd, 6)}
    grade = Score(NAME, round(score, 4), score >= minimum, detail, measures, gate=settings["gate"])
    return grade, cost
