"""The dispatcher: decides how a goal runs (`choice.py`) and drives that run to a summary.

Follower runs need no model: they are neither checked for credentials nor for battery, and
never import the SDK. In auto mode a Follower run that diverges or is refused falls back to
Learner mode, which is then checked and charged as usual; each of the two runs has its own
ledger row and session log. Orchestrator mode (`orchestrator.py`) runs each subtask of its
plan through `run_goal` again, as a run of its own.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, assert_never, cast

from llmos._internal.credentials import model_access
from llmos._internal.engine.lifecycle import model_run, open_run
from llmos._internal.engine.types import RunRequest, RunSummary
from llmos._internal.errors import NoModelAccessError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.governance.current import governance_for
from llmos._internal.kernel.bus import EventBus, Handler, is_async_handler
from llmos._internal.kernel.economy import TokenEconomy
from llmos._internal.kernel.events import Notice
from llmos._internal.kernel.run_context import RunContext, new_run_id
from llmos._internal.memory.library import Match, TraceLibrary
from llmos._internal.memory.session_log import SessionLog
from llmos._internal.modes import trust_gate
from llmos._internal.modes.choice import (
    FollowerChoice,
    LearnerChoice,
    ModeChoice,
    OrchestratorChoice,
    choose_mode,
)
from llmos._internal.modes.follower import (
    FollowerOutcome,
    Limits,
    Preflight,
    ask_before_replay,
    preflight,
    run_follower,
)
from llmos._internal.projects.scope import RunScope, enter_project
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.plan import ReplayPlan
from llmos._internal.security.guard import RunGuard, run_guard
from llmos._internal.security.sandbox_run import RunSandbox, in_use, run_sandbox
from llmos._internal.security.trust import TrustState
from llmos._internal.workspace import Workspace

if TYPE_CHECKING:
    from llmos._internal.governance.policy import GovernancePolicy
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.security.approval import Approver
    from llmos._internal.security.policy_file import Policy


@frozen
class DryRun:
    """What `run` would do, decided without executing anything."""

    mode: str
    reason: str
    trace_id: str | None
    plan: ReplayPlan | None
    template: str | None = None  # the replayed trace's template, "copy {1} to {2}"
    values: dict[str, str] | None = None  # learned value -> this goal's
    suggestions: tuple[Match, ...] = ()  # similar learned goals (not replayed)
    trust: TrustState | None = None  # the trace's (llmos/_internal/security/trust.py)


def plan_goal(ws: Workspace, request: RunRequest) -> DryRun:
    _check_request(request)
    scope = enter_project(ws, request.project, create=False)
    with TraceLibrary(scope.ws) as library:
        choice = choose_mode(request, library, scope.ws, tools=scope.tools)
    if not isinstance(choice, FollowerChoice):
        return DryRun(choice.mode, choice.reason, None, None, suggestions=choice.suggestions)
    replay = choice.replay
    return DryRun(
        choice.mode,
        choice.reason,
        replay.entry.signature,
        replay.plan,
        replay.trace.template.render(),
        dict(replay.bound.values),
        choice.suggestions,
        trust_gate.trust_of(scope.ws, replay.trace),
    )


async def run_goal(
    ws: Workspace,
    request: RunRequest,
    *,
    subscribers: Sequence[tuple[str, Handler]] = (),
    env: dict[str, str] | None = None,
    approver: Approver | None = None,
) -> RunSummary:
    """Run one goal to completion. Expected failures raise `LlmosError` before spending.

    The run goes into its project (which must exist, but for `default`): the project's
    settings, its tools (plugins and policy: llmos/_internal/plugins/run_tools.py) and governance,
    both handed to the mode in `RunServices`, and the plugins' event hooks as subscribers.

    `approver` is the human asked about the tool calls the security policy will not decide
    alone (the interactive REPL); without one such calls are denied."""
    _check_request(request)
    scope = enter_project(ws, request.project)
    handlers = [*subscribers, *scope.subscribers]
    with _GoalRun(scope, request, handlers, env, approver) as run:
        return await run.finish(await run.trusted(run.choice))


def run_goal_blocking(
    ws: Workspace,
    request: RunRequest,
    *,
    subscribers: Sequence[tuple[str, Handler]] = (),
    approver: Approver | None = None,
) -> RunSummary:
    """`run_goal` for a caller with no event loop (`llmos run`). A replay needs none: unless
    a human must be asked first or a subscriber is an `async def`, it runs as plain Python and
    asyncio is never imported (~25 ms of a $0 run). Anything else runs in `asyncio.run`."""
    _check_request(request)
    scope = enter_project(ws, request.project)
    handlers = [*subscribers, *scope.subscribers]
    with _GoalRun(scope, request, handlers, None, approver) as run:
        choice = run.choice
        if run.untrusted(choice):  # asking a human needs an event loop; refusing does not
            if trust_gate.asks_a_human(approver):
                import asyncio

                choice = asyncio.run(run.trusted(choice))
            else:
                choice = run.refuse_untrusted()
        if isinstance(choice, FollowerChoice) and not any(is_async_handler(h) for _, h in handlers):
            followed = _without_loop(run.follow(choice, ask=_ask_in_a_loop, close=_close_blocking))
            if isinstance(followed, RunSummary):
                return followed
            import asyncio

            return asyncio.run(run.learn(followed, fallback=True))
        import asyncio

        return asyncio.run(run.finish(choice))


T = TypeVar("T")


def _without_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine none of whose awaits waits for anything (each finishes at
    once), got without an event loop: the Follower routine is one coroutine, which
    `run_goal_blocking` runs this way with blocking `ask` and `close` (asyncio not imported)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("the coroutine waited for an event loop")


async def _ask_in_a_loop(checked: Preflight, guard: RunGuard) -> Preflight:
    import asyncio  # a human is asked: the only part of a blocking replay that needs a loop

    return asyncio.run(ask_before_replay(checked, guard))


async def _close_blocking(bus: EventBus) -> None:
    bus.close_blocking()


async def _close(bus: EventBus) -> None:
    await bus.close()


@frozen
class RunServices:
    """What a goal's run works with, from its entry to its mode: the workspace (the
    project's view of it), its security policy, the ledger, the trace library, the bus's
    subscribers, the environment the agent's CLI gets, the human asked about tool calls
    (None: calls the policy asks about are refused), the project's plugin tools (less what
    its policy denies) and its governance (None: none declared). Each is handed to what
    needs it: no run state is kept anywhere else (see ARCHITECTURE.md, "Run state")."""

    ws: Workspace
    policy: Policy
    economy: TokenEconomy
    library: TraceLibrary
    subscribers: Sequence[tuple[str, Handler]]
    env: dict[str, str] | None
    approver: Approver | None
    tools: RunTools
    governance: GovernancePolicy | None


@frozen
class _Replay:
    """A Follower run under way: its context (and bus), session log, guard and plan, and the
    checkpoint that can put back what it changes."""

    ctx: RunContext
    log: SessionLog
    guard: RunGuard
    plan: ReplayPlan
    checkpoint: Checkpoint
    sandbox: RunSandbox


class _GoalRun:
    """One goal's run inside its project, from the mode chosen to the summary; the steps
    both entries (`run_goal`, `run_goal_blocking`) share."""

    def __init__(
        self,
        scope: RunScope,
        request: RunRequest,
        subscribers: Sequence[tuple[str, Handler]],
        env: dict[str, str] | None,
        approver: Approver | None,
    ) -> None:
        ws = scope.ws
        self.request = request
        governance = _governance(scope)  # a bad entry is refused before anything opens
        economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
        self.library = TraceLibrary(ws)
        self.services = RunServices(
            ws,
            scope.policy,
            economy,
            self.library,
            subscribers,
            env,
            approver,
            tools=scope.tools,
            governance=governance,
        )
        try:
            self.choice: ModeChoice = _continued(request) or choose_mode(
                request, self.services.library, ws, tools=scope.tools
            )
            # A trace not learned here replays only once a human approved its plan.
            self.trust: TrustState | None = None
            if isinstance(self.choice, FollowerChoice):
                self.trust = trust_gate.trust_of(ws, self.choice.replay.trace)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> _GoalRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.services.library.close()
        self.services.economy.close()

    # Trust --------------------------------------------------------------------------------
    def untrusted(self, choice: ModeChoice) -> bool:
        return (
            isinstance(choice, FollowerChoice) and self.trust is not None and not self.trust.trusted
        )

    async def trusted(self, choice: ModeChoice) -> ModeChoice:
        """`choice` once the trace's trust is settled: an untrusted trace is put to the
        human, if one can be asked, and refused otherwise (`refuse_untrusted`)."""
        if not isinstance(choice, FollowerChoice) or not self.untrusted(choice):
            return choice
        trust = self.trust
        assert trust is not None
        if self.services.approver is not None and trust_gate.asks_a_human(self.services.approver):
            # The trace is judged as learned: that is what trusting it covers.
            replay = choice.replay
            trust = await trust_gate.ask_to_trust(
                self.services.ws, self.services.approver, replay.trace, replay.plan, trust
            )
            self.trust = trust
            if trust.trusted:
                return choice
        return self.refuse_untrusted()

    def refuse_untrusted(self) -> LearnerChoice:
        """The untrusted trace does not replay: auto mode learns the goal instead (without
        showing the model that trace), other modes stop (`TraceNotTrustedError`)."""
        assert self.trust is not None
        try:
            model_access({**os.environ, **(self.services.env or {})})
            reachable = True
        except NoModelAccessError:
            reachable = False  # then the untrusted trace is the news, not the missing key
        reason = trust_gate.refusal(self.request, self.trust, learner_possible=reachable)
        agents = None if self.request.agent else _agents(self.services, self.request.project)
        return LearnerChoice(reason, agents=agents)

    async def finish(self, choice: ModeChoice) -> RunSummary:
        """Run the chosen mode to a summary (a replay that fails may fall back to Learner)."""
        match choice:
            case FollowerChoice():
                followed = await self.follow(choice, ask=ask_before_replay, close=_close)
                if isinstance(followed, RunSummary):
                    return followed
                return await self.learn(followed, fallback=True)
            case LearnerChoice():
                return await self.learn(choice)
            case OrchestratorChoice():
                return await _orchestrate(self.services, self.request, choice)
            case _:
                assert_never(choice)

    async def learn(self, choice: LearnerChoice, *, fallback: bool = False) -> RunSummary:
        # A fallback is a run of its own, after the replay's: a new run id.
        request = dataclasses.replace(self.request, run_id=None) if fallback else self.request
        return await _learn(self.services, request, choice)

    # Follower ----------------------------------------------------------------------------
    async def follow(
        self,
        choice: FollowerChoice,
        *,
        ask: Callable[[Preflight, RunGuard], Awaitable[Preflight]],
        close: Callable[[EventBus], Awaitable[None]],
    ) -> RunSummary | LearnerChoice:
        """The Follower run: the replay's summary, or the Learner run that takes over from a
        replay that failed in auto mode. `ask` puts the preflight's questions to the human,
        `close` closes the run's bus: with an event loop, or without one (`_without_loop`)."""
        replay = self.start_replay(choice)
        try:
            checked = preflight(
                replay.plan,
                replay.guard,
                governance=self.services.governance,
                tools=self.services.tools,
            )
            if checked.questions:
                checked = await ask(checked, replay.guard)
            outcome = self.replay(choice, replay, checked)
        finally:
            replay.guard.close()
            await close(replay.ctx.bus)
        return self.after_replay(choice, replay, outcome)

    def start_replay(self, choice: FollowerChoice) -> _Replay:
        """A replay's context, guard and plan; then its bus and session log are opened (last:
        the caller closes them). Plain-function subscribers need no event loop; async ones do."""
        request = self.request
        ctx = _replay_context(request, self.services.ws)
        guard = run_guard(
            self.services.ws,
            ctx,
            self.services.approver,
            source="follower",
            policy=self.services.policy,
        )
        checkpoint = Checkpoint(
            self.services.ws.undo_dir / ctx.run_id, ctx.workdir, ctx.run_id, ctx.goal, "follower"
        )
        plan = choice.replay.plan
        sandbox = self._replay_sandbox(ctx, plan)  # may refuse the run: before its log opens
        log = open_run(
            self.services.ws,
            ctx,
            reason=choice.reason,
            subscribers=self.services.subscribers,
            agent=_agent_name(request),
        )
        if sandbox.notice:
            ctx.bus.publish(Notice(run_id=ctx.run_id, text=sandbox.notice))
        return _Replay(ctx, log, guard, plan, checkpoint, sandbox)

    def _replay_sandbox(self, ctx: RunContext, plan: ReplayPlan) -> RunSandbox:
        """The replay's sandbox: only commands need one (file steps are checked by the policy
        in-process); an imported trace's commands run in nothing else."""
        if not any(p.step.tool == "Bash" for p in plan.to_run):
            return RunSandbox(None, "replay")
        trust = self.trust
        imported = f"trace {trust.signature}" if trust and trust.needs_sandbox else None
        return run_sandbox(
            self.services.ws,
            "replay",
            workdir=ctx.workdir,
            policy=self.services.policy,
            imported=imported,
        )

    def replay(
        self, choice: FollowerChoice, replay: _Replay, checked: Preflight
    ) -> FollowerOutcome:
        """Run the replay whose preflight (questions answered) is `checked`. In auto mode, a
        replay that does not succeed says on the bus that the Learner takes over."""
        ctx = replay.ctx
        settings = self.services.ws.settings
        timeout = self.request.timeout_secs
        limits = Limits(
            deadline=ctx.started_at + timeout if timeout else None,
            tool_secs=settings.tool_timeout_secs or None,
        )
        ctx.workdir.mkdir(parents=True, exist_ok=True)  # the sandbox binds it: it must exist
        with in_use(replay.sandbox.profile) as sandbox:  # the Bash steps run inside it
            outcome = run_follower(
                ctx,
                choice.replay,
                checked,
                library=self.services.library,
                economy=self.services.economy,
                guard=replay.guard,
                checkpoint=replay.checkpoint,
                limits=limits,
                tools=self.services.tools,
                sandbox=sandbox,
            )
        if self._falls_back(outcome):
            note = f"Follower {outcome.status} ({outcome.detail}); falling back to Learner"
            ctx.bus.publish(Notice(run_id=ctx.run_id, text=note))
        return outcome

    def after_replay(
        self, choice: FollowerChoice, replay: _Replay, outcome: FollowerOutcome
    ) -> RunSummary | LearnerChoice:
        """The summary of a replay (its bus closed), or the Learner run that takes over."""
        if not self._falls_back(outcome):
            trace_path = str(self.services.library.path_of(choice.replay.entry))
            summary = _follower_summary(
                replay.ctx, choice, outcome, self.services.economy, trace_path, str(replay.log.path)
            )
            return dataclasses.replace(summary, sandbox=replay.sandbox.description)
        # The trace that failed is still the best example of how the goal was reached.
        request = self.request
        return LearnerChoice(
            f"fell back to Learner: Follower {outcome.status} ({outcome.detail})",
            example=choice.replay.trace,
            example_confidence=1.0,
            agents=None if request.agent else _agents(self.services, request.project),
        )

    def _falls_back(self, outcome: FollowerOutcome) -> bool:
        """In auto mode a replay that failed is learned instead; one that was stopped (an
        interrupt, the run's time limit) is not: the user wanted it to end."""
        stopped = outcome.status in ("interrupted", "timed_out")
        return (
            not outcome.ok
            and not stopped
            and self.request.mode == "auto"
            and not self.request.trace_id
        )


def _governance(scope: RunScope) -> GovernancePolicy | None:
    """The run's governance (llmos/_internal/governance), None when none is declared: its policy
    files' sections and its plugins' rules. A bad entry is a UsageError here, before
    anything runs."""
    plugins = [loaded.plugin for loaded in scope.tools.registry.plugins]
    policy = governance_for(scope.ws.root, scope.project.name, plugins)
    if policy is not None and policy.hands_over:  # a route naming no agent: refused now
        from llmos._internal.plugins.run_tools import run_catalog

        policy.check_agents(run_catalog(scope.ws, scope.project.name, scope.tools).names())
    return policy


def _check_request(request: RunRequest) -> None:
    if not request.goal.strip():
        raise UsageError("the goal is empty", hint='Say what to do: llmos run "goal".')
    replay_or_plan = request.mode in ("follower", "orchestrator") or request.trace_id
    if request.resume_session and replay_or_plan:
        raise UsageError(
            "only a Learner run can continue a conversation",
            hint="Use mode auto or learner to continue; a replay or a plan starts afresh.",
        )


def _continued(request: RunRequest) -> LearnerChoice | None:
    """A goal that continues a conversation means something only in it: the model must read
    it there, so it is learned, never matched against traces."""
    if not request.resume_session:
        return None
    return LearnerChoice("continues the conversation of the previous goal")


def _replay_context(request: RunRequest, ws: Workspace) -> RunContext:
    return RunContext(
        run_id=request.run_id or new_run_id(),
        goal=request.goal,
        project=request.project,
        workdir=ws.output_dir(request.project),
        mode="follower",
        budget_usd=0.0,
        bus=EventBus(),
        parent_run=request.parent_run,
        agent=_agent_name(request),
    )


async def _learn(services: RunServices, request: RunRequest, choice: LearnerChoice) -> RunSummary:
    # Imported here: a Follower run never needs the Learner's hooks, recall or the SDK.
    from llmos._internal.modes.learner import run_learner

    ws, economy, env, approver = services.ws, services.economy, services.env, services.approver
    subscribers = services.subscribers

    async with model_run(
        ws,
        economy,
        goal=request.goal,
        project=request.project,
        mode="learner",
        budget_usd=request.budget_usd,
        reason=choice.reason,
        model=request.model,
        run_id=request.run_id,
        env=env,
        sandbox="learner",
        subscribers=subscribers,
        agent=_agent_name(request),
        parent_run=request.parent_run,
    ) as run:
        learned = await run_learner(
            ws,
            request,
            run,
            services.library,
            example=choice.example,
            example_confidence=choice.example_confidence,
            env=env,
            approver=approver,
            agents=choice.agents.specs() if choice.agents else (),
            sandbox=run.sandbox.profile,
            tools=services.tools,
            governance=services.governance,
        )
    ctx, log, sandbox = run.ctx, run.log, run.sandbox
    outcome, trace_path, error = learned.outcome, learned.trace_path, learned.error
    governance = learned.governance
    summary = RunSummary(
        run_id=ctx.run_id,
        goal=ctx.goal,
        mode="learner",
        mode_reason=choice.reason,
        status=outcome.status if outcome else "error",
        project=ctx.project,
        workdir=str(ctx.workdir),
        model=(outcome.model if outcome else None) or ctx.model,
        turns=outcome.turns if outcome else 0,
        tool_calls=ctx.tool_calls,
        denied_calls=ctx.denied_calls,
        cost_usd=outcome.cost_usd if outcome else ctx.spent_usd,
        saved_usd=0.0,
        duration_secs=outcome.duration_secs if outcome else 0.0,
        balance_usd=economy.balance,
        result=outcome.result_text if outcome else "",
        trace_path=str(trace_path) if trace_path else None,
        session_log=str(log.path),
        error=error,
        session_id=outcome.session_id if outcome else None,
        continued=request.resume_session is not None,
        sandbox=sandbox.description,
        governance=governance.summary(),
    )
    if governance.handoff is not None:
        # A route handed the rest of the goal to another agent: a run of its own, linked.
        from llmos._internal.engine.governed.handoff import hand_over

        return await hand_over(
            ws,
            request,
            summary,
            governance,
            run_goal=run_goal,
            subscribers=subscribers,
            env=env,
            approver=approver,
            tools=services.tools,
        )
    return summary


async def _orchestrate(
    services: RunServices, request: RunRequest, choice: OrchestratorChoice
) -> RunSummary:
    # Imported here: only an orchestration needs the planner, the executor and synthesis.
    from llmos._internal.modes.orchestrator import run_orchestrator

    ws, economy, env, approver = services.ws, services.economy, services.env, services.approver
    subscribers = services.subscribers

    # Authorized like a Learner run. Model access is checked before each model call the
    # orchestration makes, so that one whose plan and subtasks all replay needs none.
    async with model_run(
        ws,
        economy,
        goal=request.goal,
        project=request.project,
        mode="orchestrator",
        budget_usd=request.budget_usd,
        reason=choice.reason,
        model=request.model,
        run_id=request.run_id,
        env=env,
        check_access=False,
        subscribers=subscribers,
    ) as run:
        return await run_orchestrator(
            ws, request, run, choice, run_goal=run_goal, env=env, approver=approver
        )


def _follower_summary(
    ctx: RunContext,
    choice: FollowerChoice,
    outcome: FollowerOutcome,
    economy: TokenEconomy,
    trace_path: str,
    session_log: str,
) -> RunSummary:
    return RunSummary(
        run_id=ctx.run_id,
        goal=ctx.goal,
        mode="follower",
        mode_reason=choice.reason,
        status=outcome.status,
        project=ctx.project,
        workdir=str(ctx.workdir),
        model=None,
        turns=0,
        tool_calls=ctx.tool_calls,
        denied_calls=ctx.denied_calls,
        cost_usd=0.0,
        saved_usd=outcome.saved_usd,
        duration_secs=time.time() - ctx.started_at,
        balance_usd=economy.balance,
        result=outcome.result,
        trace_path=trace_path,
        session_log=session_log,
        error=None if outcome.ok else outcome.detail,
    )


def _agent_name(request: RunRequest) -> str | None:
    return request.agent.name if request.agent is not None else None


def _agents(services: RunServices, project: str) -> Any:
    # only runs that reach the model need them
    from llmos._internal.plugins.run_tools import run_catalog

    return run_catalog(services.ws, project, services.tools)
