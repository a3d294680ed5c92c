"""Handing the rest of a goal to another agent, when a router says so.

The route ends the current agent run (its status: `handed_off`, its cost charged, its session
log sealed). The dispatcher then calls `hand_over`: a follow-up run of the same goal, in
Learner mode, as the llmos agent the route names (its prompt, tools and model, as an
orchestration's subtask would run), told in its prompt what the first run did and why it was
stopped. The follow-up is a run of its own, linked to the first (its request's
`parent_run`): its session log has `parent_run_id` and its ledger row `parent_run` = the
first run, and it is charged on its own row. What `llmos run` reports is the follow-up's
outcome, with both runs' cost, turns and calls added up, and `governance.handoff` naming the
first run.

One hand-over per goal: a run that was itself handed over does not hand over again, so
routers can never bounce a goal between agents. The follow-up is not saved as a trace (its
steps finish work another run began; replaying them alone would not reach the goal); a
later run of the goal learns it whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.engine.governed.session import GovernanceSession
    from llmos._internal.engine.types import RunRequest, RunSummary
    from llmos._internal.kernel.bus import Handler
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

_STEPS_SHOWN = 40

HANDOVER = """
Another agent started this goal and llmos stopped it ({router}: {reason}). You take over as
the agent {agent}: finish the goal from where it stands; the files it changed are in the
working folder as it left them. What it did, in order:
{steps}
""".strip()


def handover_context(session: GovernanceSession, agent: str) -> str:
    route = session.handoff
    assert route is not None
    lines = [
        f"- [{s.type}] {s.describe()}: {'ok' if s.ok else 'FAILED'}"
        + (f" ({s.summary[:160]})" if s.summary and not s.ok else "")
        for s in session.history.steps[-_STEPS_SHOWN:]
    ]
    steps = "\n".join(lines) or "- (no tool call finished)"
    return HANDOVER.format(router=route.router, reason=route.reason, agent=agent, steps=steps)


async def hand_over(
    ws: Workspace,
    request: RunRequest,
    first: RunSummary,
    session: GovernanceSession,
    *,
    run_goal: Callable[..., Awaitable[RunSummary]],
    subscribers: Sequence[tuple[str, Handler]] = (),
    env: dict[str, str] | None = None,
    approver: Approver | None = None,
    tools: RunTools | None = None,
) -> RunSummary:
    """Run the rest of the goal as the route's agent (from the agents the run's `tools`
    complete); the combined summary."""
    from llmos._internal.plugins.run_tools import run_catalog

    route = session.handoff
    assert route is not None and route.target is not None
    spec = run_catalog(ws, request.project, tools).require(route.target)
    budget = None
    if request.budget_usd is not None:
        budget = max(0.0, request.budget_usd - first.cost_usd)
    follow = dataclasses.replace(
        request,
        mode="learner",
        agent=spec,
        context=handover_context(session, spec.name),
        model=spec.model if spec.model and spec.model != "inherit" else request.model,
        budget_usd=budget,
        run_id=None,
        trace_id=None,
        resume_session=None,
        handed_over_from=first.run_id,
        parent_run=first.run_id,
    )
    second = await run_goal(ws, follow, subscribers=subscribers, env=env, approver=approver)
    handoff: dict[str, Any] = {
        "from_run": first.run_id,
        "to_run": second.run_id,
        "agent": spec.name,
        "router": route.router,
        "reason": route.reason,
        "first_status": first.status,
        "first_cost_usd": first.cost_usd,
    }
    return dataclasses.replace(
        second,
        mode_reason=f"handed over to {spec.name} by {route.router} ({route.reason})",
        turns=first.turns + second.turns,
        tool_calls=first.tool_calls + second.tool_calls,
        denied_calls=first.denied_calls + second.denied_calls,
        cost_usd=first.cost_usd + second.cost_usd,
        duration_secs=first.duration_secs + second.duration_secs,
        governance={**(second.governance or {}), "handoff": handoff},
    )
