"""Which mode runs a goal, and why: the dispatcher's decision, kept free of side effects so
that `--dry-run` can show it and tests can check it.

The rule for `--mode auto`: replay a learned trace (Follower) when the goal *matches* it
exactly (its canonical form, its template with the goal's own values, or one of its
aliases: llmos/_internal/memory/library.py), the goal's values can go into its steps safely, it can
be replayed, its success rating is >= `follower_min_rating`, and the files it touches are as it
left or found them (llmos/_internal/replay/preconditions.py); otherwise learn (Learner), handing the
model the closest trace, if any, as a worked example. A goal that is only *similar* to a
learned one is never replayed. `--trace ID` replays that trace; `--mode follower` insists on
a match and fails clearly without one; `--mode learner` always learns. When no trace is
replayed, auto mode may plan over the agents instead (`llmos/_internal/orchestration/decide.py`);
`--mode orchestrator` always plans. Learner runs get the agents as subagents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmos._internal.engine.types import MODES, RunRequest
from llmos._internal.errors import LlmosError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.memory.library import Match, TraceLibrary
from llmos._internal.memory.trace import Trace
from llmos._internal.memory.trace_index import IndexedTrace
from llmos._internal.replay.plan import ReplayPlan, plan_replay
from llmos._internal.replay.preconditions import changed_files
from llmos._internal.replay.substitute import BoundTrace, Unsubstitutable, bind
from llmos._internal.workspace import Settings, Workspace

if TYPE_CHECKING:
    from llmos._internal.agents.catalog import AgentCatalog
    from llmos._internal.orchestration.record import OrchestrationRecord
    from llmos._internal.plugins.run_tools import RunTools


class ReplayStale(LlmosError):
    """A replay was asked for, but the files it touches changed since it was learned."""

    exit_code = 1


# Below this a similar trace is not even worth showing the model as an example.
EXAMPLE_MIN_CONFIDENCE = 0.3


@frozen
class Replay:
    """A trace to replay for a goal: as learned, with the goal's values, and its plan."""

    entry: IndexedTrace
    trace: Trace  # as learned
    bound: BoundTrace  # with the goal's values in place of the learned ones
    plan: ReplayPlan  # of the bound trace
    counts: bool = True  # the goal matched exactly: the outcome counts toward the rating


@frozen
class FollowerChoice:
    """Replay a learned trace."""

    reason: str
    replay: Replay
    suggestions: tuple[Match, ...] = ()  # similar goals (never replayed on that alone)
    mode: Literal["follower"] = "follower"


@frozen
class LearnerChoice:
    """Learn the goal with the model."""

    reason: str
    suggestions: tuple[Match, ...] = ()
    example: Trace | None = None  # a similar trace shown to the model as a worked example
    example_confidence: float = 0.0
    agents: AgentCatalog | None = None  # offered as subagents (None: a subtask's own run)
    mode: Literal["learner"] = "learner"


@frozen
class OrchestratorChoice:
    """Plan over the agents and delegate."""

    reason: str
    agents: AgentCatalog  # planned over
    stored: OrchestrationRecord | None = None  # the plan learned for this goal, reused
    suggestions: tuple[Match, ...] = ()
    mode: Literal["orchestrator"] = "orchestrator"


# The dispatcher's decision: one of three, each with what its mode needs (`match` on it).
ModeChoice = FollowerChoice | LearnerChoice | OrchestratorChoice


def choose_mode(
    request: RunRequest, library: TraceLibrary, ws: Workspace, *, tools: RunTools | None = None
) -> ModeChoice:
    """The mode for `request` in workspace `ws`, with the run's `tools` (its plugins: what
    their steps need to replay, their agents)."""
    settings = ws.settings
    workdir = ws.project_dir(request.project, create=False) / "output"  # looked at, not made
    if request.mode not in MODES:
        raise UsageError(f"unknown mode {request.mode!r}", hint=f"Use one of: {', '.join(MODES)}.")
    if request.mode == "orchestrator":
        if request.trace_id:
            raise UsageError("--trace replays a trace: use it with --mode auto or follower")
        return _orchestrator("asked for with --mode orchestrator", request, ws, settings, tools)
    if request.trace_id:
        return _chosen_trace(request, library, workdir, tools)
    matches = library.find(request.goal, project=request.project)
    if request.mode == "learner":
        learner = _learner("asked for with --mode learner", library, request, matches)
        return _with_agents(learner, request, ws, tools)
    if request.mode == "follower":
        return _forced_follower(request, library, matches, workdir, tools)
    choice = _auto(request, library, matches, settings, workdir, tools)
    if not isinstance(choice, LearnerChoice) or request.agent is not None:
        return choice
    # Agents and orchestrations matter only once no trace can be replayed: a Follower run
    # never pays for loading them.
    from llmos._internal.orchestration.decide import decide
    from llmos._internal.orchestration.record import OrchestrationStore
    from llmos._internal.plugins.run_tools import run_catalog

    catalog = run_catalog(ws, request.project, tools)
    stored = OrchestrationStore.of(ws).find(request.goal)
    verdict = decide(
        request.goal, agents=len(catalog), stored=stored, min_rating=settings.follower_min_rating
    )
    if verdict.orchestrate:
        return OrchestratorChoice("auto: " + verdict.reason, catalog, stored)
    reason = f"{choice.reason}; {verdict.reason}" if verdict.reason else choice.reason
    return dataclasses.replace(choice, reason=reason, agents=catalog)


def _with_agents(
    choice: LearnerChoice, request: RunRequest, ws: Workspace, tools: RunTools | None
) -> LearnerChoice:
    """A Learner run gets the agents as subagents, unless it is itself a subtask's agent."""
    if request.agent is not None:
        return choice
    from llmos._internal.plugins.run_tools import run_catalog

    return dataclasses.replace(choice, agents=run_catalog(ws, request.project, tools))


def _orchestrator(
    reason: str, request: RunRequest, ws: Workspace, settings: Settings, tools: RunTools | None
) -> OrchestratorChoice:
    from llmos._internal.orchestration.record import OrchestrationStore
    from llmos._internal.plugins.run_tools import run_catalog

    catalog = run_catalog(ws, request.project, tools)
    if not len(catalog):
        raise UsageError(
            "Orchestrator mode has no agents to plan over",
            hint=f"Add agent files to {ws.root / 'agents'} (`llmos agents create NAME ...`).",
        )
    stored = OrchestrationStore.of(ws).find(request.goal)
    if stored is not None and stored.success_rating >= settings.follower_min_rating:
        reason += f"; reusing the plan of orchestration {stored.goal_signature}"
    else:
        stored = None
    return OrchestratorChoice(reason, catalog, stored)


def _chosen_trace(
    request: RunRequest, library: TraceLibrary, workdir: Path, tools: RunTools | None
) -> FollowerChoice:
    if request.mode not in ("auto", "follower"):
        raise UsageError("--trace replays a trace: use it with --mode auto or follower")
    entry = library.resolve(str(request.trace_id))
    # The goal's values go in if it matches the trace; otherwise the trace runs as learned,
    # and since the goal is not one it knows, the outcome says nothing of its rating.
    match = next((m for m in library.find(request.goal) if m.entry.name == entry.name), None)
    replay, problem = _replay_of(library, entry, match, workdir, tools)
    if replay is None:
        raise UsageError(f"trace {entry.signature} cannot be replayed: {problem}")
    if problem:
        raise ReplayStale(f"trace {entry.signature} is not replayed: {problem}", hint=_RELEARN)
    return FollowerChoice(f"--trace {entry.signature}", replay)


_RELEARN = "Run the goal with --mode auto (or learner) to learn it again."


def _replay_of(
    library: TraceLibrary,
    entry: IndexedTrace,
    match: Match | None,
    workdir: Path,
    tools: RunTools | None,
) -> tuple[Replay | None, str]:
    """The replay of `entry` for this goal, and what stands in its way: (None, why) if it
    cannot be replayed at all; (replay, why) if the files it touches changed since."""
    trace = library.load(entry)
    try:
        bound = bind(trace, match.values if match else {})
    except Unsubstitutable as exc:
        return None, str(exc)
    plan = plan_replay(bound.trace, tools)
    if not plan.eligible:
        return None, plan.reason
    replay = Replay(entry, trace, bound, plan, counts=match is not None)
    steps = [(p.number, p.step) for p in plan.steps]
    changed = changed_files(steps, workdir, bound.paths)
    return replay, changed.describe() if changed else ""


def _forced_follower(
    request: RunRequest,
    library: TraceLibrary,
    matches: list[Match],
    workdir: Path,
    tools: RunTools | None,
) -> FollowerChoice:
    if not matches:
        hint = "Run it once in Learner mode (--mode auto or learner) so llmos learns it."
        similar = library.similar(request.goal, project=request.project, limit=1)
        if similar:
            best = similar[0]
            hint = (
                f"The closest learned goal is {best.entry.goal_text!r} (trace "
                f"{best.entry.signature}); replay it anyway with --trace {best.entry.signature}. "
                + hint
            )
        raise UsageError("--mode follower: no learned trace matches this goal", hint=hint)
    best = matches[0]
    replay, problem = _replay_of(library, best.entry, best, workdir, tools)
    if replay is None:
        raise UsageError(f"trace {best.entry.signature} cannot be replayed: {problem}")
    if problem:
        raise ReplayStale(f"--mode follower: {problem}", hint=_RELEARN)
    reason = f"--mode follower: trace {best.entry.signature} matches ({best.describe()})"
    return FollowerChoice(reason, replay)


def _auto(
    request: RunRequest,
    library: TraceLibrary,
    matches: list[Match],
    settings: Settings,
    workdir: Path,
    tools: RunTools | None,
) -> FollowerChoice | LearnerChoice:
    reasons = []
    for match in matches:
        sig = match.entry.signature
        replay, problem = _replay_of(library, match.entry, match, workdir, tools)
        if replay is None:
            reasons.append(f"trace {sig} matches ({match.describe()}) but {problem}")
        elif replay.trace.success_rating < settings.follower_min_rating:
            reasons.append(
                f"trace {sig} matches but its success rating {replay.trace.success_rating:.2f} "
                f"is below {settings.follower_min_rating:.2f}"
            )
        elif problem:
            reasons.append(f"trace {sig} matches but {problem}; learning it again")
            return _learner("auto: " + "; ".join(reasons), library, request, [match])
        else:
            return FollowerChoice(
                f"trace {sig} matches: {match.describe()} (success rating "
                f"{replay.trace.success_rating:.2f})",
                replay,
            )
    unreadable = library.unreadable_for(request.goal)
    if unreadable is not None:
        reasons.append(
            f"the trace file of this goal cannot be read ({unreadable.error}); it is set aside "
            "when the goal is learned again"
        )
    if not reasons:
        reasons.append("no learned trace matches this goal")
    return _learner("auto: " + "; ".join(reasons), library, request, matches)


def _learner(
    reason: str, library: TraceLibrary, request: RunRequest, matches: list[Match]
) -> LearnerChoice:
    """A Learner run, shown the best trace it can learn from: one that matched but could not
    be replayed, else the most similar goal."""
    similar = library.similar(request.goal, project=request.project)
    candidates = [*matches, *(m for m in similar if m.confidence >= EXAMPLE_MIN_CONFIDENCE)]
    suggestions = tuple(similar)
    for match in candidates:
        try:
            example = library.load(match.entry)
        except LlmosError:  # an unreadable example is no reason to fail the run
            continue
        if not matches and similar:
            reason += f"; similar: trace {similar[0].entry.signature}, shown to the model"
        return LearnerChoice(
            reason,
            suggestions=suggestions,
            example=example,
            example_confidence=match.confidence,
        )
    return LearnerChoice(reason, suggestions=suggestions)
