"""What an interactive session keeps between goals: mode, project, budget cap, model, and the
agent conversation that `/continue` carries on."""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmos._internal.engine.types import Mode, RunRequest, RunSummary
from llmos._internal.frozen import frozen
from llmos._internal.presentation.run_tracker import RunTracker
from llmos._internal.workspace import Workspace, validate_project_name

# A replay or a plan has no conversation to continue: only these modes carry one on.
CONVERSATION_MODES: tuple[Mode, ...] = ("auto", "learner")


@frozen
class Conversation:
    """An agent conversation that later goals resume (the SDK's session)."""

    session_id: str
    project: str  # the CLI keeps a conversation per working folder
    cost_usd: float  # what llmos charged for its runs so far
    goals: int


@dataclass
class ReplSession:
    """What one interactive session keeps between goals, and runs each goal with."""

    ws: Workspace
    mode: Mode = "auto"
    project: str = "default"
    budget_usd: float | None = None  # the cap of each goal; None: the balance
    model: str | None = None
    continuing: bool = False  # /continue: goals carry on one conversation
    conversation: Conversation | None = None

    def request(self, goal: str) -> RunRequest:
        resume = self.resumable()
        return RunRequest(
            goal=goal,
            mode=self.mode,
            project=self.project,
            budget_usd=self.budget_usd,
            model=self.model,
            resume_session=resume.session_id if resume else None,
            resume_cost_usd=resume.cost_usd if resume else 0.0,
        )

    def resumable(self) -> Conversation | None:
        """The conversation the next goal continues, if it continues one."""
        if not self.continuing or self.mode not in CONVERSATION_MODES:
            return None
        conversation = self.conversation
        if conversation is None or conversation.project != self.project:
            return None
        return conversation

    def switch_project(self, name: str) -> bool:
        """Make `name` the current project; True when that ends the conversation."""
        self.project = validate_project_name(name)
        ended = self.conversation is not None and self.conversation.project != name
        if ended:
            self.conversation = None
        return ended

    def new_conversation(self) -> None:
        self.conversation = None

    # After a goal ---------------------------------------------------------------------------
    def finished(self, request: RunRequest, summary: RunSummary) -> None:
        """Carry the conversation on from a run that reported one."""
        if not self.continuing or summary.mode != "learner" or not summary.session_id:
            return
        current = self.conversation
        if request.resume_session and current and current.session_id == summary.session_id:
            self.conversation = replace(
                current, cost_usd=current.cost_usd + summary.cost_usd, goals=current.goals + 1
            )
        else:
            self.conversation = Conversation(
                summary.session_id, summary.project, summary.cost_usd, 1
            )

    def interrupted(self, request: RunRequest, tracker: RunTracker) -> None:
        """An interrupted run reports no session. A resumed conversation goes on (its cost
        total now includes what this run was charged); a new one is lost."""
        current = self.conversation
        if request.resume_session and current and current.session_id == request.resume_session:
            charged = tracker.finished.cost_usd if tracker.finished else 0.0
            self.conversation = replace(current, cost_usd=current.cost_usd + charged)

    def failed(self, request: RunRequest) -> None:
        """A run that raised: the conversation it resumed may be what failed (a session the
        CLI cannot find); the next goal starts a new one."""
        if request.resume_session:
            self.conversation = None
