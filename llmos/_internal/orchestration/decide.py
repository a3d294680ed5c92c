"""Auto mode's rule for planning over agents, applied after Follower's rule found no trace:

1. an orchestration trace of this goal (`record.py`) with a success rating at least
   `follower_min_rating`: orchestrate again, reusing its plan;
2. the goal lists several separate tasks (`classify.py`) and at least one agent exists:
   orchestrate, the planner assigning the tasks to agents;
3. otherwise: Learner mode, and the agents go to the model as subagents, so it can still
   delegate part of the work when it judges that worth it.

A subtask of an orchestration never orchestrates itself (no recursion): its request
carries the agent that does it, and this rule is not asked.
"""

from __future__ import annotations

from llmos._internal.frozen import frozen
from llmos._internal.orchestration.classify import classify_goal
from llmos._internal.orchestration.record import OrchestrationRecord


@frozen
class Decision:
    """Whether auto mode orchestrates a goal, and why."""

    orchestrate: bool
    reason: str


def decide(
    goal: str, *, agents: int, stored: OrchestrationRecord | None, min_rating: float
) -> Decision:
    if stored is not None:
        sig = stored.goal_signature
        if stored.success_rating >= min_rating and agents:
            return Decision(
                True,
                f"orchestration {sig} learned this goal (success rating "
                f"{stored.success_rating:.2f}): reusing its plan",
            )
    shape = classify_goal(goal)
    if shape.several and agents:
        return Decision(True, f"{shape.reason}: planning them over {agents} agent(s)")
    if shape.several:
        return Decision(False, f"{shape.reason}, but no agents are defined to plan over")
    return Decision(False, "")
