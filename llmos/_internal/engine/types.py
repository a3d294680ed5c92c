"""A goal as the user asked for it, and the summary of how its run went."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from llmos._internal.frozen import frozen

if TYPE_CHECKING:
    from llmos._internal.agents.spec import AgentSpec

Mode = Literal["auto", "learner", "follower", "orchestrator"]
MODES: tuple[Mode, ...] = ("auto", "learner", "follower", "orchestrator")


@frozen
class RunRequest:
    """A goal to run, as the user (or an orchestration, a scheduled job) asked for it."""

    goal: str
    mode: Mode = "auto"
    project: str = "default"
    budget_usd: float | None = None
    model: str | None = None
    max_turns: int | None = None
    timeout_secs: float | None = None
    trace_id: str | None = None  # replay this trace (Follower mode)
    parallel: int = 4  # Orchestrator mode: most subtasks running at once
    # Set for a subtask of an orchestration: the agent doing it (its prompt, tools, model)
    # and what it is given besides its goal (the results it depends on). Such a run never
    # orchestrates, and `context` is not part of what is learned: the trace is the goal's.
    agent: AgentSpec | None = None
    context: str = ""
    # Continue this agent conversation (a RunSummary.session_id): the goal is read in its
    # light, so it always runs in Learner mode and is not saved as a trace of its own.
    # `resume_cost_usd`: what the conversation's runs were charged so far (the CLI's cost
    # total carries on from it).
    resume_session: str | None = None
    resume_cost_usd: float = 0.0
    # The run's id, chosen by the caller before it starts (the kernel records it with the
    # job's run at once); None: a new one. A fallback after a failed replay gets its own.
    run_id: str | None = None
    # Set for the run a governance route handed the goal to
    # (llmos/_internal/engine/governed/handoff.py): the run that began it. Such a run is not saved
    # as a trace and hands over no further.
    handed_over_from: str | None = None
    # The run this one works for: the orchestration whose subtask it is, or the run that
    # handed it the goal. Its session log (`parent_run_id`) and ledger row (`parent_run`,
    # and `agent`) name it, so an orchestration's rows can be summed.
    parent_run: str | None = None


@frozen
class RunSummary:
    """How one run went, as `llmos run` reports it (in words, or with `--json`)."""

    run_id: str
    goal: str
    mode: str
    mode_reason: str
    status: str
    project: str
    workdir: str
    model: str | None
    turns: int
    tool_calls: int
    denied_calls: int
    cost_usd: float
    saved_usd: float
    duration_secs: float
    balance_usd: float
    result: str
    trace_path: str | None
    session_log: str
    error: str | None = None
    orchestration: dict[str, Any] | None = None  # Orchestrator mode: plan, subtasks, costs
    session_id: str | None = None  # Learner: the agent conversation, to resume it
    continued: bool = False  # the run continued an earlier conversation (resume_session)
    sandbox: str = "none"  # what its commands ran in (llmos/_internal/security/sandbox_run.py)
    # Governance (llmos/_internal/governance): checker blocks, evaluator scores, a hand-over.
    governance: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
