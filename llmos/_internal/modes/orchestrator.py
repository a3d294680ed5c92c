"""Orchestrator mode: plan the goal over agents, run the subtasks through the dispatcher
(independent ones at the same time), and write the answer from their results.

1. **Plan**: the plan learned for this goal (its orchestration trace) if there is one and it
   still fits the agents; otherwise the model's (`orchestration/planner.py`: structured
   output, validated, re-asked once).
2. **Run**: the dependency graph (`orchestration/executor.py`), at most `--parallel`
   subtasks at once, each one a run of its own through `run_goal`
   (`orchestration/subtasks.py`): Follower at $0 when it was learned, else Learner as its
   agent; retried once. If a subtask still fails, the plan is revised once (the model sees
   what was done and why it failed); if that fails too, the run fails and says which
   subtask failed and why. It never reports success with a failed subtask.
3. **Synthesis** (`orchestration/synthesis.py`): one model call writes the answer, unless
   the subtasks' results are exactly those the stored answer was written from.
4. **Memory**: a successful run saves its orchestration trace (`orchestration/record.py`);
   each successful subtask saved its own trace as it went. The ledger has a row for the
   orchestration (its planning and synthesis) and one per subtask run, under it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from llmos._internal.credentials import model_access
from llmos._internal.engine.lifecycle import ModelRun
from llmos._internal.engine.types import RunRequest, RunSummary
from llmos._internal.governance.schemas import check_artifact
from llmos._internal.kernel.economy import RunRecord, TokenEconomy
from llmos._internal.kernel.events import Notice, PlanReady, RunFinished
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.modes.choice import OrchestratorChoice
from llmos._internal.orchestration.budget import BudgetPool
from llmos._internal.orchestration.executor import SubtaskResult, execute_plan
from llmos._internal.orchestration.plan import Plan, plan_schema, validate_plan
from llmos._internal.orchestration.planner import Revision, make_plan
from llmos._internal.orchestration.progress import Progress, report
from llmos._internal.orchestration.record import OrchestrationStore, learned
from llmos._internal.orchestration.subtasks import RunGoal, SubtaskRunner
from llmos._internal.orchestration.synthesis import SYNTHESIS_SYSTEM, fingerprint, synthesis_prompt
from llmos._internal.sdk.structured import ask_text
from llmos._internal.workspace import Workspace

if TYPE_CHECKING:
    from llmos._internal.security.approval import Approver


async def run_orchestrator(
    ws: Workspace,
    request: RunRequest,
    run: ModelRun,
    choice: OrchestratorChoice,
    *,
    run_goal: RunGoal,
    env: dict[str, str] | None = None,
    approver: Approver | None = None,
) -> RunSummary:
    """`approver`: the human the subtasks' runs ask about what the policy asks (one question
    at a time; the terminal's and the REPL's approvers take turns)."""
    ctx, economy = run.ctx, run.economy
    progress = Progress(model=ctx.model)
    store = OrchestrationStore.of(ws)
    deadline = time.monotonic() + request.timeout_secs if request.timeout_secs else None
    orchestration = _Orchestration(
        ws, request, ctx, choice, env, deadline, run_goal, progress, approver
    )
    try:
        await orchestration.run()
        if progress.status == "success":
            record = learned(request.goal, request.project, progress, choice.stored)
            progress.record_path = store.save(record)
        elif choice.stored is not None and progress.plan_source == "reused":
            store.save(choice.stored.counted(ok=False))  # the learned plan let us down
    except BaseException as exc:
        progress.status = "interrupted" if not isinstance(exc, Exception) else "error"
        progress.error = progress.error or (str(exc) or type(exc).__name__)
        raise
    finally:
        run.end_with(*_ending(ctx, economy, progress))
    return _summary(ctx, choice, economy, progress, run.log.path, request)


@dataclasses.dataclass
class _Orchestration:
    """One orchestrated run: planning, the subtasks and the synthesis, over one budget pool."""

    ws: Workspace
    request: RunRequest
    ctx: RunContext
    choice: OrchestratorChoice
    env: dict[str, str] | None
    deadline: float | None
    run_goal: RunGoal
    progress: Progress
    approver: Approver | None = None

    def __post_init__(self) -> None:
        self.catalog = self.choice.agents
        self.pool = BudgetPool(self.ctx.budget_usd)
        # Reserved first, so that planning and the subtasks can never eat into it.
        self.pool.allocate("synthesis", self.pool.synthesis_reserve())

    async def run(self) -> None:
        p = self.progress
        for problem in self.catalog.problems:  # the planner cannot pick a broken agent
            self._notice(f"skipped agent file {problem}")
        plan = await self._first_plan()
        if plan is None:
            return
        done: dict[str, SubtaskResult] = {}
        while True:
            p.rounds += 1
            started = time.monotonic()
            results = await self._execute(plan, done)
            p.execution_secs += time.monotonic() - started
            p.results.update(results)
            p.plan = Plan(tuple(r.subtask for r in p.results.values() if r.ok))
            failed = next((r for r in results.values() if r.status == "failed"), None)
            done.update({k: r for k, r in results.items() if r.ok})
            if failed is None:
                break
            if p.rounds > 1:
                self._fail_subtask(failed)
                return
            self._notice(f"subtask {failed.subtask.id} failed ({failed.error}); revising the plan")
            taken = frozenset(p.results)
            revised = await self._plan(Revision(done=dict(done), failed=failed, taken=taken))
            if revised is None:
                self._fail_subtask(failed, also=f"; revising the plan failed: {p.error}")
                return
            plan = revised
        await self._synthesize()

    # Planning ------------------------------------------------------------------------------
    async def _first_plan(self) -> Plan | None:
        stored = self.choice.stored
        if stored is not None:
            # No minimum per subtask here: a subtask that replays costs nothing. A stored plan
            # is data from a file: checked against the plan's schema too (a checker result).
            names = self.catalog.names()
            schema = plan_schema(names)
            problems = check_artifact(self.ctx, "plan", schema, stored.plan.to_dict())
            problems += validate_plan(stored.plan, names, pool_usd=None)
            if not problems:
                self.progress.plan_source = "reused"
                self.progress.saved += stored.planning_cost_usd
                self._accept(stored.plan, "reused")
                return stored.plan
            self._notice(
                "the learned plan no longer fits (" + "; ".join(problems) + "): replanning"
            )
        return await self._plan(None)

    async def _plan(self, revision: Revision | None) -> Plan | None:
        p = self.progress
        self._check_model_access()
        outcome = await make_plan(
            self.ctx,
            goal=self.request.goal,
            catalog=self.catalog,
            pool=self.pool,
            model=self.ctx.model,
            workdir=self.ctx.workdir,
            env=self.env,
            timeout_secs=self._time_left(),
            stall_timeout_secs=self.ws.settings.stall_timeout_secs,
            revision=revision,
            key="revision" if revision else "plan",
        )
        p.planning_cost += outcome.cost_usd
        p.planning_turns += outcome.turns
        p.planning_asks += outcome.asks
        p.model = outcome.model or p.model
        if outcome.plan is None:
            what = "the revised plan" if revision else "the plan"
            p.error = f"{what} was not usable after {outcome.asks} attempt(s): " + "; ".join(
                outcome.errors
            )
            return None
        p.plan_source = "revised" if revision else "planner"
        self._accept(outcome.plan, p.plan_source)
        return outcome.plan

    def _accept(self, plan: Plan, source: str) -> None:
        """Fix each subtask's cap as its share of what is free now, and show the plan."""
        pool_usd = self.pool.free_usd
        round_number = self.progress.rounds + 1
        caps = {}
        for sub in plan.subtasks:
            key = f"{round_number}:{sub.id}"
            caps[sub.id] = self.pool.allocate(key, sub.budget_share * pool_usd)
        self.ctx.bus.publish(
            PlanReady(
                run_id=self.ctx.run_id,
                source=source,
                subtasks=[{**s.to_dict(), "cap_usd": round(caps[s.id], 6)} for s in plan.subtasks],
            )
        )

    # Running -------------------------------------------------------------------------------
    async def _execute(
        self, plan: Plan, done: dict[str, SubtaskResult]
    ) -> dict[str, SubtaskResult]:
        runner = SubtaskRunner(
            self.ws,
            self.ctx,
            self.request,
            self.catalog,
            self.pool,
            self.run_goal,
            env=self.env,
            deadline=self.deadline,
            round=self.progress.rounds,
            approver=self.approver,
        )

        def skipped(result: SubtaskResult) -> None:
            self.pool.close(runner.key(result.subtask))
            runner.publish(result.subtask, "skipped", detail=result.error or "")

        return await execute_plan(
            plan, runner, parallel=self.request.parallel, done=done, on_skip=skipped
        )

    def _fail_subtask(self, failed: SubtaskResult, also: str = "") -> None:
        sub = failed.subtask
        tries = len(failed.attempts)
        last = failed.attempts[-1].status if failed.attempts else None
        self.progress.status = "timed_out" if last == "timed_out" else "failed"
        self.progress.error = (
            f"subtask {sub.id} ({sub.agent}: {sub.goal!r}) failed after {tries} attempt(s): "
            f"{failed.error}{also}"
        )

    # Synthesis -----------------------------------------------------------------------------
    async def _synthesize(self) -> None:
        p = self.progress
        assert p.plan is not None
        prompt = synthesis_prompt(self.request.goal, p.plan, p.results)
        stored = self.choice.stored
        if stored is not None and stored.result and stored.synthesis_sha256 == fingerprint(prompt):
            p.answer, p.synthesis_reused = stored.result, True
            p.saved += stored.synthesis_cost_usd
            self.pool.close("synthesis")
            p.status = "success"
            return
        self._check_model_access()
        outcome = await ask_text(
            self.ctx,
            prompt=prompt,
            system=SYNTHESIS_SYSTEM,
            budget_usd=self.pool.left("synthesis"),
            model=self.ctx.model,
            workdir=self.ctx.workdir,
            env=self.env,
            timeout_secs=self._time_left(),
            stall_timeout_secs=self.ws.settings.stall_timeout_secs,
        )
        self.pool.charge("synthesis", outcome.cost_usd)
        self.pool.close("synthesis")
        p.synthesis_cost, p.synthesis_turns = outcome.cost_usd, outcome.turns
        p.model = outcome.model or p.model
        if outcome.ok and outcome.result_text.strip():
            p.answer, p.status = outcome.result_text, "success"
        else:
            p.status = "timed_out" if outcome.status == "timed_out" else "error"
            why = "; ".join(outcome.errors) or outcome.status
            p.error = f"every subtask succeeded, but writing the answer failed: {why}"

    # Helpers -------------------------------------------------------------------------------
    def _check_model_access(self) -> None:
        model_access({**os.environ, **(self.env or {})})  # raises with instructions

    def _time_left(self) -> float | None:
        return None if self.deadline is None else max(0.01, self.deadline - time.monotonic())

    def _notice(self, text: str) -> None:
        self.ctx.bus.publish(Notice(run_id=self.ctx.run_id, text=text))


def _ending(ctx: RunContext, economy: TokenEconomy, p: Progress) -> tuple[RunRecord, RunFinished]:
    """The orchestration's own ledger row, and its `RunFinished`, which totals its subtasks'
    runs (each has its own row, charged)."""
    finished = time.time()
    children = economy.subtask_runs(ctx.run_id)
    return (
        RunRecord(
            run_id=ctx.run_id,
            started_at=ctx.started_at,
            finished_at=finished,
            goal=ctx.goal,
            project=ctx.project,
            mode="orchestrator",
            model=p.model,
            status=p.status,
            cost_usd=p.own_cost,  # the subtasks' rows carry (and charge) their own cost
            saved_usd=round(p.saved, 6),
            turns=p.planning_turns + p.synthesis_turns,
            tool_calls=0,
            duration_secs=finished - ctx.started_at,
            trace_path=str(p.record_path) if p.record_path else None,
            error=p.error,
        ),
        RunFinished(
            run_id=ctx.run_id,
            status=p.status,
            cost_usd=p.own_cost + sum(c.cost_usd for c in children),
            turns=p.planning_turns + p.synthesis_turns + sum(c.turns for c in children),
            tool_calls=sum(c.tool_calls for c in children),
            duration_secs=finished - ctx.started_at,
            trace_path=str(p.record_path) if p.record_path else None,
            error=p.error,
            saved_usd=round(p.saved + sum(c.saved_usd for c in children), 6),
            # its own model calls (plan, answer) and its subtasks' runs
            input_tokens=ctx.cost.input_tokens + sum(c.input_tokens for c in children),
            output_tokens=ctx.cost.output_tokens + sum(c.output_tokens for c in children),
            model=p.model,
        ),
    )


def _summary(
    ctx: RunContext,
    choice: OrchestratorChoice,
    economy: TokenEconomy,
    p: Progress,
    session_log: Path,
    request: RunRequest,
) -> RunSummary:
    children = economy.subtask_runs(ctx.run_id)  # every attempt and fallback, as charged
    return RunSummary(
        run_id=ctx.run_id,
        goal=ctx.goal,
        mode="orchestrator",
        mode_reason=choice.reason,
        status=p.status,
        project=ctx.project,
        workdir=str(ctx.workdir),
        model=p.model,
        turns=p.planning_turns + p.synthesis_turns + sum(c.turns for c in children),
        tool_calls=sum(c.tool_calls for c in children),
        denied_calls=0,
        cost_usd=p.own_cost + sum(c.cost_usd for c in children),
        saved_usd=p.saved + sum(c.saved_usd for c in children),
        duration_secs=time.time() - ctx.started_at,
        balance_usd=economy.balance,
        result=p.answer,
        trace_path=str(p.record_path) if p.record_path else None,
        session_log=str(session_log),
        error=p.error,
        orchestration=report(p, parallel=request.parallel, budget_usd=ctx.budget_usd),
    )
