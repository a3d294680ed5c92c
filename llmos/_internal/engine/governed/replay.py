"""Governance of a replay: the checkers over a trace's steps, before the first one runs.

Follower's preflight (`llmos/_internal/modes/follower.py`) calls `replay_refusal`. The trace's
steps, in order and with their recorded outcomes, are the history the checkers see: each step that
would run is checked as a live call would be (`forbid`, `max`, `require ... before`), every
step (skipped reads included) joins the history, and at the end the finish checkers are
asked (`require: verify after write`: a trace that writes code and never tests it is not
replayed under that policy). A failure refuses the trace before anything runs, like a step the
security policy denies; in auto mode the goal is then learned, under the same governance.

Types are classified again from each step's tool and input; the `Type` a trace file records
is never trusted (a trace is data from anywhere). Routers and evaluators do not apply to a
replay: it runs exactly the recorded steps, and its trace's scores are those of the run that
learned it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.governance.policy import GovernancePolicy
    from llmos._internal.kernel.run_context import RunContext
    from llmos._internal.memory.trace import TraceStep
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.replay.plan import ReplayPlan


def replay_refusal(
    plan: ReplayPlan,
    ctx: RunContext,
    *,
    governance: GovernancePolicy | None,
    tools: RunTools | None = None,
) -> str | None:
    """Why the run's `governance` (None: none declared) refuses to replay `plan`, or None;
    the checkers' results go on the run's bus (one `CheckerResults`, phase "replay").
    `tools`: the run's, which say what kind of step a plugin tool's is."""
    policy = governance
    if policy is None or not policy.checkers:
        return None
    from llmos._internal.governance.history import History
    from llmos._internal.kernel.events import CheckerResults

    history = History(goal=ctx.goal, workdir=ctx.workdir)
    running = [(c.name, c.phases, c.running()) for c in policy.checkers]
    verdicts: dict[str, str] = {}  # checker -> its first failure
    refusal: str | None = None
    for planned in plan.steps:
        step = planned.step
        call = history.call(
            step.tool,
            step.input,
            tool_use_id=f"replay-{planned.number}",
            agent=step.agent,
            plugin_kind=tools.kind_of(step.tool) if tools is not None else None,
            new_file=_creates(step),
        )
        if planned.action == "run":
            for name, phases, state in running:
                reason = state.check_call(history, call) if "call" in phases else None
                if reason is not None and name not in verdicts:
                    verdicts[name] = f"step {planned.number} ({step.tool}): {reason}"
                    refusal = refusal or f"{verdicts[name]} [governance: {name}]"
        done = history.add(call, ok=step.outcome == "ok", summary=step.result)
        for _, _, state in running:
            state.observe(history, done)
    for name, phases, state in running:
        reason = state.check_finish(history) if "finish" in phases else None
        if reason is not None and name not in verdicts:
            verdicts[name] = f"the trace as a whole: {reason}"
            refusal = refusal or f"{verdicts[name]} [governance: {name}]"
    results = [
        {"checker": name, "passed": name not in verdicts, "reason": verdicts.get(name, "")}
        for name, _, _ in running
    ]
    ctx.bus.publish(
        CheckerResults(run_id=ctx.run_id, phase="replay", results=results, allowed=refusal is None)
    )
    return refusal


def _creates(step: TraceStep) -> bool:
    """Whether a file tool's step made a new file (its recorded precondition: absent)."""
    target: Any = step.input.get("file_path") or step.input.get("notebook_path")
    before = step.checks.get("before")
    if not isinstance(target, str) or not isinstance(before, dict):
        return False
    return before.get(target) == "absent"
