"""Ask the model for a plan, check it, and ask once more with the problems if it is bad.

The plan comes back as structured output (`llmos._internal.sdk.structured`), shaped by
`plan_schema`; `validate_plan` then checks agents, cycles and budget shares. A bad plan is
sent back once with its errors; a second bad plan ends the run (the caller reports the
errors). The same path revises a plan after a subtask failed: the model sees what was
done, what failed and why, and plans the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.agents.catalog import AgentCatalog
from llmos._internal.frozen import frozen
from llmos._internal.governance.schemas import check_artifact
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.orchestration.budget import BudgetPool
from llmos._internal.orchestration.executor import SubtaskResult
from llmos._internal.orchestration.plan import (
    MAX_SUBTASKS,
    Plan,
    PlanError,
    plan_from_dict,
    plan_schema,
    validate_plan,
)
from llmos._internal.sdk.structured import ask_structured

MAX_ASKS = 2  # the first plan, then one correction
_RESULT_CHARS = 1500  # of each finished subtask's result shown to a revision

PLANNER_SYSTEM = f"""You are the planner of llmos, an LLM operating system.
Split the user's goal into subtasks and assign each to one of the agents listed in the
request. Answer only by calling the StructuredOutput tool with the plan.

Rules:
- Each subtask is done by one agent that sees only its goal and the results of the
  subtasks it depends on. Write each goal so that it stands on its own, without
  references to this conversation; a subtask learned once is replayed for free the next
  time the same goal comes up, so keep goals specific and reusable.
- List in depends_on only the subtasks whose results are really needed. Subtasks that do
  not depend on each other run at the same time.
- budget_share is the fraction of the subtasks' budget a subtask may spend; the shares
  add up to at most 1. Give more to harder subtasks.
- Use as few subtasks as the goal needs (at most {MAX_SUBTASKS}). Do not add a subtask
  to write the final answer: llmos writes it from the subtasks' results."""


@frozen
class Revision:
    """What a revision needs to know: the finished work and the failure."""

    done: Mapping[str, SubtaskResult]
    failed: SubtaskResult
    taken: frozenset[str] = frozenset()  # every id of the earlier plan


@dataclass
class PlanningOutcome:
    """What asking for a plan gave: a valid plan, or the last one's errors; and its cost."""

    plan: Plan | None
    errors: list[str] = field(default_factory=list)
    cost_usd: float = 0.0
    turns: int = 0
    asks: int = 0
    model: str | None = None


async def make_plan(
    ctx: RunContext,
    *,
    goal: str,
    catalog: AgentCatalog,
    pool: BudgetPool,
    model: str | None,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout_secs: float | None = None,
    stall_timeout_secs: float | None = None,
    revision: Revision | None = None,
    key: str = "plan",
) -> PlanningOutcome:
    """A valid plan, or None with the errors of the last attempt. Cost is drawn from `pool`."""
    outcome = PlanningOutcome(None)
    done_ids = set(revision.done) if revision else set()
    taken = revision.taken - done_ids if revision else frozenset()
    previous: dict[str, Any] | None = None
    while outcome.asks < MAX_ASKS:
        outcome.asks += 1
        budget_key = f"{key}-{outcome.asks}"
        cap = pool.allocate(budget_key, pool.planning_cap())
        subtask_pool = max(0.0, pool.free_usd)  # what the subtasks will share
        prompt = planning_prompt(
            goal, catalog, subtask_pool, revision=revision, errors=outcome.errors, previous=previous
        )
        schema = plan_schema(catalog.names())
        answer = await ask_structured(
            ctx,
            prompt=prompt,
            system=PLANNER_SYSTEM,
            schema=schema,
            budget_usd=cap,
            model=model,
            workdir=workdir,
            env=env,
            timeout_secs=timeout_secs,
            stall_timeout_secs=stall_timeout_secs,
        )
        pool.charge(budget_key, answer.outcome.cost_usd)
        pool.close(budget_key)
        outcome.cost_usd += answer.outcome.cost_usd
        outcome.turns += answer.outcome.turns
        outcome.model = answer.outcome.model or outcome.model
        if answer.data is None:
            outcome.errors = [answer.problem or "no plan"]
            if not answer.outcome.ok:
                return outcome  # the call itself failed (budget, timeout): asking again won't help
            continue
        previous = answer.data
        # The CLI validated the answer against the schema; governance checks it again and
        # records the result (a checker result on the run's bus, like any other).
        problems = check_artifact(ctx, "plan", schema, answer.data)
        if problems:
            outcome.errors = problems
            continue
        try:
            plan = plan_from_dict(answer.data)
        except PlanError as exc:
            outcome.errors = exc.errors
            continue
        outcome.errors = validate_plan(
            plan, catalog.names(), pool_usd=pool.free_usd, done=done_ids, taken=taken
        )
        if not outcome.errors:
            outcome.plan = plan
            return outcome
    return outcome


def planning_prompt(
    goal: str,
    catalog: AgentCatalog,
    subtask_pool_usd: float,
    *,
    revision: Revision | None = None,
    errors: list[str] | None = None,
    previous: dict[str, Any] | None = None,
) -> str:
    lines = [f"Goal: {goal}", "", "Agents:"]
    for spec in catalog.specs():
        lines.append(f"- {spec.name}: {spec.description} (tools: {', '.join(spec.tool_list)})")
    lines += ["", f"The subtasks share a budget of ${subtask_pool_usd:.4f}."]
    if revision is not None:
        lines += ["", "This is a revision: part of an earlier plan ran."]
        if revision.done:
            lines.append("Finished subtasks (later subtasks may depend on their ids):")
            for result in revision.done.values():
                text = result.result[:_RESULT_CHARS]
                sub = result.subtask
                lines.append(f"- {sub.id} [{sub.agent}]: {sub.goal}")
                lines.append(f"  result: {text}")
        failed = revision.failed
        lines += [
            f"Failed subtask {failed.subtask.id} [{failed.subtask.agent}]: {failed.subtask.goal}",
            f"  why: {failed.error}",
            "Plan only the work that remains, in a way that avoids this failure. Use new ids.",
        ]
    if errors:
        lines += ["", "Your previous plan was rejected:"]
        lines += [f"- {error}" for error in errors]
        if previous is not None:
            lines += ["Previous plan:", json.dumps(previous, ensure_ascii=False)]
        lines.append("Return a corrected plan.")
    return "\n".join(lines)
