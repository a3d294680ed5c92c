"""Which mode runs a goal, and why: the dispatcher's decision, kept free of side effects so
that `--dry-run` can show it and tests can check it.

The rule for `--mode auto`: replay a learned trace (Follower) when one matches the goal with
confidence >= `follower_threshold`, can be replayed, and has a success rating >=
`follower_min_rating`; otherwise learn (Learner), handing the model the closest trace, if
any, as a worked example. `--trace ID` replays that trace; `--mode follower` insists on a
match and fails clearly without one; `--mode learner` always learns. When no trace is
replayed, auto mode may plan over the agents instead (`llmos/orchestration/decide.py`);
`--mode orchestrator` always plans. Learner runs get the agents as subagents.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmos.errors import LlmosError, UsageError
from llmos.memory.library import Match, TraceLibrary
from llmos.memory.trace import Trace
from llmos.memory.trace_index import IndexedTrace
from llmos.modes.types import MODES, RunRequest
from llmos.replay.plan import ReplayPlan, plan_replay
from llmos.workspace import Settings, Workspace

if TYPE_CHECKING:
    from llmos.agents.catalog import AgentCatalog
    from llmos.orchestration.record import OrchestrationRecord

# Below this a similar trace is not even worth showing the model as an example.
EXAMPLE_MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class ModeChoice:
    mode: str
    reason: str
    entry: IndexedTrace | None = None  # the trace to replay (Follower)
    trace: Trace | None = None
    plan: ReplayPlan | None = None
    example: Trace | None = None  # a similar trace shown to the Learner
    example_confidence: float = 0.0
    agents: AgentCatalog | None = None  # Learner: offered as subagents; Orchestrator: planned over
    stored: OrchestrationRecord | None = None  # Orchestrator: the plan learned for this goal


def choose_mode(
    request: RunRequest,
    library: TraceLibrary,
    settings: Settings,
    *,
    ws: Workspace | None = None,
) -> ModeChoice:
    """The mode for `request`. Without `ws` (no agents known) auto mode never plans."""
    if request.mode not in MODES:
        raise UsageError(f"unknown mode {request.mode!r}", hint=f"Use one of: {', '.join(MODES)}.")
    if request.mode == "orchestrator":
        if request.trace_id:
            raise UsageError("--trace replays a trace: use it with --mode auto or follower")
        return _orchestrator("asked for with --mode orchestrator", request, ws, settings)
    if request.trace_id:
        return _chosen_trace(request, library)
    matches = library.matches(request.goal, project=request.project)
    if request.mode == "learner":
        choice = _learner("asked for with --mode learner", library, matches)
        return _with_agents(choice, request, ws)
    if request.mode == "follower":
        return _forced_follower(request, library, matches, settings)
    choice = _auto(library, matches, settings)
    if choice.mode != "learner" or ws is None or request.agent is not None:
        return _with_agents(choice, request, ws)
    # Agents and orchestrations matter only once no trace can be replayed: a Follower run
    # never pays for loading them.
    from llmos.agents.catalog import load_catalog
    from llmos.orchestration.decide import decide
    from llmos.orchestration.record import OrchestrationStore

    catalog = load_catalog(ws, request.project)
    stored = OrchestrationStore.of(ws).find(request.goal)
    verdict = decide(
        request.goal, agents=len(catalog), stored=stored, min_rating=settings.follower_min_rating
    )
    if verdict.orchestrate:
        return ModeChoice("orchestrator", "auto: " + verdict.reason, agents=catalog, stored=stored)
    reason = f"{choice.reason}; {verdict.reason}" if verdict.reason else choice.reason
    return dataclasses.replace(choice, reason=reason, agents=catalog)


def _with_agents(choice: ModeChoice, request: RunRequest, ws: Workspace | None) -> ModeChoice:
    """A Learner run gets the agents as subagents, unless it is itself a subtask's agent."""
    if choice.mode != "learner" or ws is None or request.agent is not None:
        return choice
    from llmos.agents.catalog import load_catalog

    return dataclasses.replace(choice, agents=load_catalog(ws, request.project))


def _orchestrator(
    reason: str, request: RunRequest, ws: Workspace | None, settings: Settings
) -> ModeChoice:
    if ws is None:
        raise UsageError("Orchestrator mode needs a workspace (its agents)")
    from llmos.agents.catalog import load_catalog
    from llmos.orchestration.record import OrchestrationStore

    catalog = load_catalog(ws, request.project)
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
    return ModeChoice("orchestrator", reason, agents=catalog, stored=stored)


def _chosen_trace(request: RunRequest, library: TraceLibrary) -> ModeChoice:
    if request.mode not in ("auto", "follower"):
        raise UsageError("--trace replays a trace: use it with --mode auto or follower")
    entry = library.resolve(str(request.trace_id))
    trace = library.load(entry)
    plan = plan_replay(trace)
    if not plan.eligible:
        raise UsageError(f"trace {entry.signature} cannot be replayed: {plan.reason}")
    return ModeChoice("follower", f"--trace {entry.signature}", entry, trace, plan)


def _forced_follower(
    request: RunRequest, library: TraceLibrary, matches: list[Match], settings: Settings
) -> ModeChoice:
    best = matches[0] if matches else None
    if best is None or best.confidence < settings.follower_threshold:
        hint = "Run it once in Learner mode (--mode auto or learner) so llmos learns it."
        if best is not None:
            hint = (
                f"The closest learned goal is {best.entry.goal_text!r} (trace "
                f"{best.entry.signature}, confidence {best.confidence:.2f}); replay it anyway "
                f"with --trace {best.entry.signature}. " + hint
            )
        raise UsageError("--mode follower: no learned trace matches this goal", hint=hint)
    trace = library.load(best.entry)
    plan = plan_replay(trace)
    if not plan.eligible:
        raise UsageError(f"trace {best.entry.signature} cannot be replayed: {plan.reason}")
    return ModeChoice(
        "follower",
        f"--mode follower: trace {best.entry.signature} matches (confidence {best.confidence:.2f})",
        best.entry,
        trace,
        plan,
    )


def _auto(library: TraceLibrary, matches: list[Match], settings: Settings) -> ModeChoice:
    reasons = []
    for match in matches:
        if match.confidence < settings.follower_threshold:
            break
        trace = library.load(match.entry)
        plan = plan_replay(trace)
        sig = match.entry.signature
        if not plan.eligible:
            reasons.append(f"trace {sig} matches but cannot be replayed: {plan.reason}")
        elif trace.success_rating < settings.follower_min_rating:
            reasons.append(
                f"trace {sig} matches but its success rating {trace.success_rating:.2f} is "
                f"below {settings.follower_min_rating:.2f}"
            )
        else:
            return ModeChoice(
                "follower",
                f"trace {sig} matches (confidence {match.confidence:.2f}, "
                f"success rating {trace.success_rating:.2f})",
                match.entry,
                trace,
                plan,
            )
    if not reasons:
        best = matches[0] if matches else None
        if best is not None and best.confidence >= EXAMPLE_MIN_CONFIDENCE:
            reasons.append(
                f"similar trace {best.entry.signature}, confidence {best.confidence:.2f}: below "
                f"the {settings.follower_threshold:.2f} threshold, so it is shown to the model "
                "as an example"
            )
        else:
            reasons.append("no learned trace matches this goal")
    return _learner("auto: " + "; ".join(reasons), library, matches)


def _learner(reason: str, library: TraceLibrary, matches: list[Match]) -> ModeChoice:
    for match in matches:
        if match.confidence < EXAMPLE_MIN_CONFIDENCE:
            break
        try:
            example = library.load(match.entry)
        except LlmosError:  # an unreadable example is no reason to fail the run
            continue
        return ModeChoice("learner", reason, example=example, example_confidence=match.confidence)
    return ModeChoice("learner", reason)
