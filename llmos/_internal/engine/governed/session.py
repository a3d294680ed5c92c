"""Governance of one live run (Learner mode, an orchestration's subtasks): its hooks.

    PreToolUse   `governance`          the checkers over the history so far, and a plugin
                                       tool's input against its schema: a failure denies the
                                       call with its reason (the model is told, as for any
                                       denied call); a run a router is ending is stopped here
    PostToolUse, `governance-history`  the step joins the history (typed); step scores;
    ...Failure                         a plugin tool's output against its schema; routers
    Stop         `governance-finish`   the finish checkers: a failure sends the run back with
                                       what it must do first (the model continues with "Stop
                                       hook feedback"), at most `max_stop_blocks` times, then
                                       the run stops and is recorded as `governance_failed`;
                                       routers at the end

After the agent returns, `conclude` settles the run's status (a route may have ended it,
governance may have failed), runs the evaluators and says whether the run's trace may be
saved. Everything is published on the run's bus: `CheckerResults`, `RouteTaken`,
`ScoreRecorded` (kernel/events.py), so the session log records it and anyone may subscribe.

How a route acts: `stop` and `hand over` end the agent run (a PostToolUse hook returns
`continue: false`; after a failed step, whose hook cannot stop the CLI, the next call is
denied with `continue: false`, or the Stop hook lets it end); the dispatcher then starts
the hand-over run (`handoff.py`). `switch model` calls the SDK client's `set_model` (the
runner puts it on the run's context) before the hook returns, so the next model request
uses it. `ask a human` puts the question to the run's approver; with none the run ends.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmos._internal.frozen import frozen
from llmos._internal.governance.checkers import Running
from llmos._internal.governance.evaluators import RunFacts, Score
from llmos._internal.governance.history import Call, History, Step
from llmos._internal.governance.kinds import classify
from llmos._internal.governance.policy import GovernancePolicy
from llmos._internal.governance.routers import Route
from llmos._internal.governance.schemas import validate
from llmos._internal.kernel.events import CheckerResults, Notice, RouteTaken, ScoreRecorded
from llmos._internal.kernel.hooks import HookInput, HookOutput, HookRegistry, deny

if TYPE_CHECKING:
    from llmos._internal.engine.types import RunRequest
    from llmos._internal.kernel.run_context import RunContext
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.memory.trace import Trace, TraceStep
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.sdk.types import AgentOutcome, AgentStatus
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)

_PREFIX = "llmos governance"
_DO_IT = "Do what is missing now, then finish."


@frozen
class Conclusion:
    """How governance settles a run: its outcome (status changed if a route ended it or
    governance failed), its run scores, and why its trace must not be followed, if so."""

    outcome: AgentOutcome | None
    scores: tuple[Score, ...] = ()
    unfollowable: str | None = None

    def trace_scores(self) -> dict[str, float]:
        """The scores as a trace keeps them (front matter `scores`): name -> number."""
        found: dict[str, float] = {}
        for score in self.scores:
            if score.score is not None:
                found[score.evaluator] = round(float(score.score), 4)
            for key, value in score.measures.items():
                found[f"{score.evaluator}.{key}"] = round(float(value), 6)
        return found


@dataclass
class GovernanceSession:
    """The governance of one live run: its hooks' state, from the first call to `conclude`."""

    ctx: RunContext
    policy: GovernancePolicy
    approver: Approver | None = None
    tools: RunTools | None = None  # the run's plugin tools (their kinds and schemas)
    agent: str | None = None  # the llmos agent this run is (a subtask, a hand-over)
    agents: frozenset[str] | None = None  # agents a route may hand over to (None: unchecked)
    facts: RunFacts = field(default_factory=RunFacts)
    env: dict[str, str] | None = None  # how the run reaches the model (model_graded)
    handed_over: bool = False  # this run took over a goal from another: it hands over no more
    history: History = field(init=False)
    blocks: int = 0  # times the run was sent back at its end
    ending: Route | None = None  # the route that ends the run
    failed: str | None = None  # why governance failed the run (it stopped anyway)
    conclusion: Conclusion | None = None
    _running: list[tuple[str, frozenset[str], Running]] = field(default_factory=list)
    _pending: dict[str, Call] = field(default_factory=dict)
    _fired: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        ctx = self.ctx
        self.history = History(
            goal=ctx.goal,
            workdir=ctx.workdir,
            budget_usd=ctx.budget_usd,
            spent=lambda: ctx.spent_usd,
            denials=lambda: ctx.denied_calls,
        )
        self._running = [(c.name, c.phases, c.running()) for c in self.policy.checkers]
        self._evaluators = self.policy.build_evaluators()

    # Installing -------------------------------------------------------------------------------
    def install(self, registry: HookRegistry) -> None:
        """The hooks of this run (the checkers fail closed, like every guard)."""
        registry.add("PreToolUse", self.before_call, name="governance", fail_closed=True)
        registry.add("PostToolUse", self._after_ok, name="governance-history")
        registry.add("PostToolUseFailure", self._after_failure, name="governance-history-failure")
        registry.add("Stop", self.before_finish, name="governance-finish", timeout_secs=3600.0)

    # Before a call ----------------------------------------------------------------------------
    async def before_call(self, hook_input: HookInput) -> HookOutput:
        tool = str(hook_input.get("tool_name", ""))
        tool_input = hook_input.get("tool_input") or {}
        tool_use_id = str(hook_input.get("tool_use_id", ""))
        if self.ending is not None:
            reason = (
                f"{_PREFIX}: the run is ending ({self.ending.describe()}): {self.ending.reason}"
            )
            self.ctx.refuse(tool_use_id, tool, guard="governance", rule="route", reason=reason)
            return {**deny(reason), "continue": False, "stopReason": reason}
        call = self.history.call(
            tool,
            tool_input,
            tool_use_id=tool_use_id,
            agent=_agent(hook_input),
            plugin_kind=self._plugin_kind(tool),
        )
        results = self.check_call(call)
        self._pending[tool_use_id] = call
        return self._verdict(call, results)

    def check_call(self, call: Call) -> list[dict[str, Any]]:
        """Every call checker's verdict on `call`, and the plugin input schema's."""
        results = []
        for name, phases, state in self._running:
            if "call" in phases:
                reason = state.check_call(self.history, call)
                results.append({"checker": name, "passed": reason is None, "reason": reason or ""})
        schema = self._input_schema(call.tool)
        if schema is not None:
            problems = validate(schema, dict(call.input))
            reason = "; ".join(problems)
            results.append({"checker": "schema:input", "passed": not problems, "reason": reason})
        return results

    def _verdict(self, call: Call, results: list[dict[str, Any]]) -> HookOutput:
        if not results:
            return {}
        failed = [r for r in results if not r["passed"]]
        self.ctx.bus.publish(
            CheckerResults(
                run_id=self.ctx.run_id,
                phase="call",
                results=results,
                allowed=not failed,
                tool_use_id=call.tool_use_id,
                tool=call.tool,
                step_type=call.type,
            )
        )
        if not failed:
            return {}
        first = failed[0]
        reason = "; ".join(f"({r['checker']}) {r['reason']}" for r in failed)
        self._pending.pop(call.tool_use_id, None)
        self.ctx.refuse(
            call.tool_use_id, call.tool, guard="governance", rule=first["checker"], reason=reason
        )
        return deny(f"{_PREFIX} {reason}")

    # After a call -----------------------------------------------------------------------------
    async def _after_ok(self, hook_input: HookInput) -> HookOutput:
        return await self.after_call(hook_input, ok=True)

    async def _after_failure(self, hook_input: HookInput) -> HookOutput:
        return await self.after_call(hook_input, ok=False)

    async def after_call(self, hook_input: HookInput, *, ok: bool) -> HookOutput:
        tool = str(hook_input.get("tool_name", ""))
        tool_input = hook_input.get("tool_input") or {}
        tool_use_id = str(hook_input.get("tool_use_id", ""))
        call = self._pending.pop(tool_use_id, None) or self.history.call(
            tool, tool_input, tool_use_id=tool_use_id, agent=_agent(hook_input), new_file=False
        )
        response = hook_input.get("tool_response") if ok else hook_input.get("error")
        output_ok = self._output_ok(call)  # recorded whether the call failed or not
        ok = ok and output_ok and not _is_error(response)
        step = self.record(call, ok=ok, summary=_summary(response))
        route = self.route_after(step)
        if route is None:
            return {}
        return await self._take(route, step)

    def finished(self, tool_use_id: str, *, ok: bool, summary: str = "") -> Step | None:
        """A call `before_call` let through finished where no hook sees it (the gateway's
        client ran it and sent back its result): it joins the history. No route is taken:
        the gateway cannot end or redirect a client's agent."""
        call = self._pending.pop(tool_use_id, None)
        if call is None:
            return None
        return self.record(call, ok=ok and self._output_ok(call), summary=summary)

    def record(self, call: Call, *, ok: bool, summary: str = "") -> Step:
        """Add a finished call to the history; its step scores go on the bus."""
        step = self.history.add(call, ok=ok, summary=summary)
        for _, _, state in self._running:
            state.observe(self.history, step)
        for evaluator in self._evaluators:
            score = evaluator.score_step(self.history, step)
            if score is not None:
                self._publish_score(score)
        return step

    def _output_ok(self, call: Call) -> bool:
        """A plugin tool's output against its declared schema (a checker result)."""
        if self.tools is None:
            return True
        checked = self.tools.output_check(call.tool, call.input)
        if checked is None:
            return True
        ok, problem = checked
        self.ctx.bus.publish(
            CheckerResults(
                run_id=self.ctx.run_id,
                phase="output",
                results=[{"checker": "schema:output", "passed": ok, "reason": problem}],
                allowed=ok,
                tool_use_id=call.tool_use_id,
                tool=call.tool,
                step_type=call.type,
            )
        )
        return ok

    def route_after(self, step: Step) -> Route | None:
        for router in self.policy.routers:
            if router.name in self._fired:
                continue
            route = router.after_step(self.history, step)
            if route is not None:
                self._fired.add(router.name)
                return route
        return None

    # Before finishing -------------------------------------------------------------------------
    async def before_finish(self, hook_input: HookInput) -> HookOutput:
        if self.ending is not None:
            return {}  # a route ends the run: nothing more is asked of it
        failures = self.check_finish()
        if failures:
            reasons = "; ".join(f"({name}) {reason}" for name, reason in failures)
            if self.blocks < self.policy.max_stop_blocks:
                self.blocks += 1
                return {
                    "decision": "block",
                    "reason": f"{_PREFIX}: before you finish: {reasons}. {_DO_IT}",
                }
            self.failed = reasons
            note = f"governance failed after {self.blocks} time(s) sent back: {reasons}"
            self.ctx.bus.publish(Notice(run_id=self.ctx.run_id, text=note))
            return {}
        for router in self.policy.routers:
            if router.name in self._fired:
                continue
            route = router.at_end(self.history)
            if route is not None:
                self._fired.add(router.name)
                output = await self._take(route, None)
                if route.action == "model" and self.ending is None:
                    reason = f"{_PREFIX}: {route.reason}; go on with the model {route.target}"
                    return {"decision": "block", "reason": reason}
                output.pop("continue", None)  # at the end, the run is not stopped: it ends
                output.pop("stopReason", None)
                return output
        return {}

    def check_finish(self) -> list[tuple[str, str]]:
        """The finish checkers' failures (name, reason); every result goes on the bus."""
        results = []
        for name, phases, state in self._running:
            if "finish" in phases:
                reason = state.check_finish(self.history)
                results.append({"checker": name, "passed": reason is None, "reason": reason or ""})
        if not results:
            return []
        failed = [(str(r["checker"]), str(r["reason"])) for r in results if not r["passed"]]
        self.ctx.bus.publish(
            CheckerResults(
                run_id=self.ctx.run_id,
                phase="finish",
                results=results,
                allowed=not failed,
                blocks=self.blocks + (1 if failed else 0),
            )
        )
        return failed

    # Routes -----------------------------------------------------------------------------------
    async def _take(self, route: Route, step: Step | None) -> HookOutput:
        """Act on a route; returns the hook output that carries it out."""
        outcome = ""
        ends = False
        if route.action == "model":
            outcome = await self._switch_model(route.target or "")
        elif route.action == "handoff":
            problem = self._handoff_problem(route.target or "")
            outcome = problem or f"this run ends; the rest goes to {route.target}"
            ends = problem is None
        elif route.action == "ask":
            outcome, ends = await self._ask(route)
        else:
            outcome, ends = "the run ends", True
        self.ctx.bus.publish(
            RouteTaken(
                run_id=self.ctx.run_id,
                router=route.router,
                action=route.action,
                target=route.target,
                reason=route.reason,
                tool_use_id=step.tool_use_id if step is not None else "",
                outcome=outcome,
            )
        )
        if not ends:
            return {}
        self.ending = route
        reason = f"{_PREFIX} ({route.router}): {route.reason}: {route.describe()}"
        return {"continue": False, "stopReason": reason}

    async def _switch_model(self, model: str) -> str:
        switch = self.ctx.switch_model
        if switch is None:
            return "not switched: the model cannot be changed in this run"
        try:
            await switch(model)
        except Exception as exc:  # the CLI refused it: the run goes on as it was
            log.warning("switching the model to %s failed: %s", model, exc)
            return f"not switched: {exc}"
        self.ctx.model = model
        return f"the rest of the run uses {model}"

    def _handoff_problem(self, agent: str) -> str | None:
        if self.handed_over:
            return "not taken: this run already took the goal over (one hand-over per goal)"
        if agent == self.agent:
            return f"not taken: this run already is the agent {agent}"
        if self.agents is not None and agent not in self.agents:
            known = ", ".join(sorted(self.agents)) or "none"
            return f"not taken: no agent named {agent} (agents: {known}; `llmos agents list`)"
        return None

    async def _ask(self, route: Route) -> tuple[str, bool]:
        if self.approver is None:
            return "nobody can be asked in this run (no terminal): the run ends", True
        from llmos._internal.security.approval import ApprovalRequest, Approve, Modify

        request = ApprovalRequest(
            self.ctx.run_id,
            "route",
            {"router": route.router, "question": "let the run go on?"},
            route.reason,
            route.router,
        )
        with self.ctx.waiting_for_human():
            try:
                verdict = await self.approver.approve(request)
            except Exception as exc:
                log.warning("the approver failed on a route: %s", exc)
                return f"the question failed ({exc}): the run ends", True
        if isinstance(verdict, Approve | Modify):
            who = getattr(verdict, "by", "the user")
            return f"{who} let the run go on", False
        return "the user ended the run", True

    # After the run ----------------------------------------------------------------------------
    async def conclude(self, outcome: AgentOutcome | None) -> Conclusion:
        """The run's final word: status, evaluator scores, whether its trace may be saved."""
        if outcome is None:
            return Conclusion(None)
        outcome = self._status(outcome)
        facts = dataclasses.replace(
            self.facts, duration_secs=outcome.duration_secs, cost_usd=outcome.cost_usd
        )
        scores: list[Score] = []
        for evaluator in self._evaluators:
            try:
                score = evaluator.score_run(self.history, facts)
            except Exception:  # an evaluator never fails a run
                log.warning("evaluator %s failed", evaluator.name, exc_info=True)
                continue
            if score is not None:
                scores.append(score)
        graded = self.policy.evaluators["model_graded"]
        if graded["enabled"] and outcome.ok:
            from llmos._internal.engine.governed.graded import grade_run

            score, cost = await grade_run(self.ctx, self.history, outcome, graded, self.env)
            if cost:
                outcome = dataclasses.replace(outcome, cost_usd=outcome.cost_usd + cost)
            if score is not None:
                scores.append(score)
        for score in scores:
            self._publish_score(score)
        failed_gate = next((s for s in scores if s.failed_gate), None)
        unfollowable = None
        if failed_gate is not None:
            unfollowable = f"evaluator {failed_gate.evaluator} failed: {failed_gate.detail}"
        self.conclusion = Conclusion(outcome, tuple(scores), unfollowable)
        return self.conclusion

    def summary(self) -> dict[str, Any]:
        """What `llmos run --json` reports of the run's governance."""
        conclusion = self.conclusion
        route = self.ending
        return {
            "checkers": [name for name, _, _ in self._running],
            "sent_back": self.blocks,
            "failed": self.failed,
            "route": None
            if route is None
            else {
                "router": route.router,
                "action": route.action,
                "target": route.target,
                "reason": route.reason,
            },
            "scores": conclusion.trace_scores() if conclusion is not None else {},
            "unfollowable": conclusion.unfollowable if conclusion is not None else None,
        }

    def _status(self, outcome: AgentOutcome) -> AgentOutcome:
        if outcome.status != "success":
            return outcome
        status: AgentStatus
        if self.ending is not None:
            status = "handed_off" if self.ending.action == "handoff" else "stopped"
            why = f"{self.ending.router}: {self.ending.reason} ({self.ending.describe()})"
            return dataclasses.replace(outcome, status=status, errors=(why,))
        if self.failed is not None:
            why = f"sent back {self.blocks} time(s) and still {self.failed}"
            status = "governance_failed"
            return dataclasses.replace(outcome, status=status, errors=(why,))
        return outcome

    @property
    def handoff(self) -> Route | None:
        """The hand-over that ended this run, if one did."""
        if self.ending is not None and self.ending.action == "handoff":
            return self.ending
        return None

    def typed(self, steps: Sequence[TraceStep]) -> tuple[TraceStep, ...]:
        """Trace steps with their step type (the trace's `- **Type:**` line)."""
        return tuple(
            dataclasses.replace(
                s, step_type=classify(s.tool, s.input, self._plugin_kind(s.tool)).type
            )
            for s in steps
        )

    def _publish_score(self, score: Score) -> None:
        self.ctx.bus.publish(
            ScoreRecorded(
                run_id=self.ctx.run_id,
                evaluator=score.evaluator,
                scope=score.scope,
                score=score.score,
                passed=score.passed,
                detail=score.detail,
                measures=dict(score.measures),
                tool_use_id=score.tool_use_id,
                gate=score.gate,
            )
        )

    def _plugin_kind(self, tool: str) -> str | None:
        return self.tools.kind_of(tool) if self.tools is not None else None

    def _input_schema(self, tool: str) -> dict[str, Any] | None:
        if self.tools is None or not tool.startswith("mcp__"):
            return None
        plugin_tool = self.tools.registry.tool(tool)
        return plugin_tool.input_schema if plugin_tool is not None else None


def _agent(hook_input: HookInput) -> str | None:
    return hook_input.get("agent_type") or hook_input.get("agent_id")


def _is_error(response: Any) -> bool:
    """An MCP tool's error result (plugin tools) arrives through PostToolUse."""
    return isinstance(response, dict) and bool(response.get("is_error") or response.get("isError"))


def _summary(response: Any) -> str:
    from llmos._internal.memory.capture import summarize_response

    return summarize_response(response, limit=400)


def governance_session(
    ws: Workspace,
    ctx: RunContext,
    request: RunRequest,
    *,
    approver: Approver | None = None,
    env: dict[str, str] | None = None,
    library: TraceLibrary | None = None,
    example: Trace | None = None,
    example_confidence: float = 0.0,
    governance: GovernancePolicy | None = None,
    tools: RunTools | None = None,
) -> GovernanceSession:
    """The governance of a live run (the Learner returns it with the run's result): the run's
    `governance` (the dispatcher's; None: none declared, so the defaults: the shipped
    evaluators, no checkers or routes), with the run's `tools`, and the agents a route may
    hand over to (checked now: a route naming no agent stops the run before anything is
    spent)."""
    from llmos._internal.governance.policy import NO_GOVERNANCE

    policy = governance or NO_GOVERNANCE
    agents = None
    if policy.hands_over:
        agents = _handoff_targets(ws, ctx.project, policy, tools)
    session = GovernanceSession(
        ctx,
        policy,
        approver=approver,
        tools=tools,
        agent=request.agent.name if request.agent is not None else None,
        agents=agents,
        facts=_history_facts(ctx.goal, ctx.project, library, example, example_confidence),
        env=env,
        handed_over=request.handed_over_from is not None,
    )
    return session


def _handoff_targets(
    ws: Workspace, project: str, policy: GovernancePolicy, tools: RunTools | None
) -> frozenset[str]:
    from llmos._internal.plugins.run_tools import run_catalog

    names = frozenset(run_catalog(ws, project, tools).names())
    policy.check_agents(names)
    return names


def _history_facts(
    goal: str,
    project: str,
    library: TraceLibrary | None,
    example: Trace | None,
    confidence: float,
) -> RunFacts:
    """What the goal took when it was learned: its own trace (an exact, alias or template
    match), for the time and cost evaluators."""
    trace = example if example is not None and confidence >= 1.0 else None
    if trace is None and library is not None:
        try:
            matches = [m for m in library.find(goal, project=project) if m.replayable]
            trace = library.load(matches[0].entry) if matches else None
        except Exception:  # an unreadable trace: no history to compare with
            log.debug("no trace history for %r", goal, exc_info=True)
    if trace is None:
        return RunFacts()
    return RunFacts(
        history_secs=trace.estimated_time_secs or None,
        history_cost_usd=trace.estimated_cost_usd or None,
        history_source=f"trace {trace.goal_signature}",
    )
