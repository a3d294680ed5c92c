"""The plan: subtasks with ids, the agent that does each, what each depends on, and its share
of the budget. The model returns it as structured output (`plan_schema`); llmos then checks
what a JSON schema cannot (`validate_plan`): agents that exist, no cycles, shares within the
cap, enough money per subtask."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from llmos._internal.frozen import frozen

MAX_SUBTASKS = 12
MAX_GOAL_CHARS = 2000
# A model run costs about a cent at least (llmos._internal.kernel.economy.MIN_RUN_BUDGET_USD).
MIN_SUBTASK_BUDGET_USD = 0.01
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SHARE_SLACK = 1e-6  # shares are decimals from a model: 0.1 + 0.2 must not exceed 0.3


class PlanError(ValueError):
    """A plan that cannot run; `errors` lists every problem found, for the model to fix."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@frozen
class Subtask:
    """One part of a plan: a goal for one agent, run after the subtasks it depends on."""

    id: str
    goal: str
    agent: str
    depends_on: tuple[str, ...] = ()
    budget_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "goal": self.goal,
            "agent": self.agent,
            "depends_on": list(self.depends_on),
            "budget_share": self.budget_share,
        }


@frozen
class Plan:
    """The subtasks an orchestration runs, in the planner's order."""

    subtasks: tuple[Subtask, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"subtasks": [s.to_dict() for s in self.subtasks]}

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.subtasks]

    def get(self, subtask_id: str) -> Subtask:
        return next(s for s in self.subtasks if s.id == subtask_id)

    @property
    def share_total(self) -> float:
        return sum(s.budget_share for s in self.subtasks)


def plan_schema(agent_names: Iterable[str]) -> dict[str, Any]:
    """The JSON schema the model's plan must match (the CLI enforces it on the answer)."""
    names = sorted(agent_names)
    agent: dict[str, Any] = {"type": "string", "description": "The agent that does this subtask."}
    if names:
        agent["enum"] = names
    subtask = {
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "pattern": _ID.pattern,
                "description": "Short unique id, e.g. 'research' or 'write-report'.",
            },
            "goal": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_GOAL_CHARS,
                "description": "What to do, self-contained: the agent sees only this and "
                "the results of the subtasks it depends on.",
            },
            "agent": agent,
            "depends_on": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Ids of the subtasks whose results this one needs.",
            },
            "budget_share": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 1,
                "description": "Fraction of the subtasks' budget; all shares add up to <= 1.",
            },
        },
        "required": ["id", "goal", "agent", "depends_on", "budget_share"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "subtasks": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SUBTASKS,
                "items": subtask,
            }
        },
        "required": ["subtasks"],
        "additionalProperties": False,
    }


def plan_from_dict(data: Any) -> Plan:
    """The plan in `data` (the model's JSON, or a stored plan); `PlanError` if malformed."""
    if not isinstance(data, Mapping) or not isinstance(data.get("subtasks"), list):
        raise PlanError(["the plan must be an object with a list of subtasks"])
    errors: list[str] = []
    subtasks = []
    for number, item in enumerate(data["subtasks"], start=1):
        if not isinstance(item, Mapping):
            errors.append(f"subtask {number} is not an object")
            continue
        deps = item.get("depends_on") or []
        share = item.get("budget_share")
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            errors.append(f"subtask {number}: depends_on must be a list of ids")
            deps = []
        if isinstance(share, bool) or not isinstance(share, int | float):
            errors.append(f"subtask {number}: budget_share must be a number")
            share = 0.0
        fields = [item.get(key) for key in ("id", "goal", "agent")]
        if not all(isinstance(value, str) for value in fields):
            errors.append(f"subtask {number}: id, goal and agent must be strings")
            continue
        sub_id, goal, agent = (str(value).strip() for value in fields)
        subtasks.append(Subtask(sub_id, goal, agent, tuple(dict.fromkeys(deps)), float(share)))
    if errors:
        raise PlanError(errors)
    return Plan(tuple(subtasks))


def validate_plan(
    plan: Plan,
    agents: Collection[str],
    *,
    pool_usd: float | None,
    done: Collection[str] = (),
    taken: Collection[str] = (),
) -> list[str]:
    """Every reason `plan` cannot run ([] when it can).

    `pool_usd` is the money for all subtasks (the shares are fractions of it; None: do not
    check that each share pays for a model run, as for a learned plan that replays); `done` are
    ids of subtasks finished in an earlier round, which the plan may depend on, and `taken`
    ids an earlier round used otherwise (failed, skipped), which it must not reuse.
    """
    errors: list[str] = []
    if not plan.subtasks:
        return ["the plan has no subtasks"]
    if len(plan.subtasks) > MAX_SUBTASKS:
        errors.append(f"the plan has {len(plan.subtasks)} subtasks; at most {MAX_SUBTASKS}")
    seen: set[str] = set()
    for sub in plan.subtasks:
        if not _ID.match(sub.id):
            errors.append(f"subtask id {sub.id!r} is invalid: use 1-32 of a-z, 0-9, '-', '_'")
        if sub.id in seen or sub.id in done:
            errors.append(f"subtask id {sub.id!r} is used twice")
        elif sub.id in taken:
            errors.append(f"subtask id {sub.id!r} was used by the earlier plan: pick a new one")
        seen.add(sub.id)
        if not sub.goal:
            errors.append(f"subtask {sub.id!r} has an empty goal")
        elif len(sub.goal) > MAX_GOAL_CHARS:
            errors.append(f"subtask {sub.id!r}: its goal is over {MAX_GOAL_CHARS} characters")
        if sub.agent not in agents:
            known = ", ".join(sorted(agents)) or "none"
            errors.append(f"subtask {sub.id!r}: unknown agent {sub.agent!r} (agents: {known})")
        for dep in sub.depends_on:
            if dep == sub.id:
                errors.append(f"subtask {sub.id!r} depends on itself")
            elif dep not in done and dep not in {s.id for s in plan.subtasks}:
                errors.append(f"subtask {sub.id!r} depends on unknown subtask {dep!r}")
        if not sub.budget_share > 0:
            errors.append(f"subtask {sub.id!r}: budget_share must be above 0")
        elif pool_usd is not None and sub.budget_share * pool_usd < MIN_SUBTASK_BUDGET_USD:
            errors.append(
                f"subtask {sub.id!r}: a share of {sub.budget_share:g} is "
                f"${sub.budget_share * pool_usd:.4f}, under the ${MIN_SUBTASK_BUDGET_USD} a "
                "model run needs; give it a larger share or merge subtasks"
            )
    if plan.share_total > 1 + _SHARE_SLACK:
        errors.append(f"the budget shares add up to {plan.share_total:.2f}, over the cap of 1.00")
    cycle = find_cycle(plan)
    if cycle:
        errors.append("the dependencies form a cycle: " + " -> ".join(cycle))
    return errors


def find_cycle(plan: Plan) -> list[str]:
    """One dependency cycle as a path (a -> b -> a), or [] when there is none."""
    graph = {s.id: [d for d in s.depends_on if d != s.id] for s in plan.subtasks}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def dependents(plan: Plan, subtask_id: str) -> list[str]:
    """Every subtask that needs `subtask_id`, directly or through others."""
    found: list[str] = []
    frontier = [subtask_id]
    while frontier:
        current = frontier.pop()
        for sub in plan.subtasks:
            if current in sub.depends_on and sub.id not in found:
                found.append(sub.id)
                frontier.append(sub.id)
    return found
