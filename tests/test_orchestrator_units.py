"""Orchestrator mode's parts without a model: the classifier and auto mode's rule, plan
validation, the budget split, the graph executor and the orchestration trace."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping

import pytest

from llmos._internal.orchestration.budget import CALL_FLOOR_USD, PLANNING_SHARE, BudgetPool
from llmos._internal.orchestration.classify import classify_goal
from llmos._internal.orchestration.decide import decide
from llmos._internal.orchestration.executor import Attempt, SubtaskResult, execute_plan
from llmos._internal.orchestration.plan import (
    Plan,
    PlanError,
    Subtask,
    dependents,
    find_cycle,
    plan_from_dict,
    plan_schema,
    validate_plan,
)
from llmos._internal.orchestration.record import (
    OrchestrationRecord,
    OrchestrationStore,
    SubtaskRef,
    parse_record,
    render_record,
)
from llmos._internal.orchestration.subtasks import handover

AGENTS = ["coder", "researcher", "writer"]


def _plan(*items: tuple[str, str, tuple[str, ...], float]) -> Plan:
    return Plan(
        tuple(Subtask(i, f"goal {i}", agent, deps, share) for i, agent, deps, share in items)
    )


# The classifier and auto mode's rule ---------------------------------------------------------


@pytest.mark.parametrize(
    "goal",
    [
        "Do these:\n- research the API\n- write the client",
        "1. Research the API\n2. Write the client\n3. Review it",
        "* one thing\n* another thing",
        "Please (1) fetch the data, (2) clean it and (3) plot it",
        "Release steps: 1) bump the version 2) tag it",
    ],
)
def test_a_goal_listing_separate_tasks_is_several(goal: str) -> None:
    shape = classify_goal(goal)
    assert shape.several and shape.items >= 2


@pytest.mark.parametrize(
    "goal",
    [
        "Create hello.py that greets, and run it",
        "Research the API and write a client and review it and document it and ship it",
        "Fix bug #1 and bug #2",
        "Upgrade from version 1.2 to 2.3",
        "Wait 1.5 s and then 2 s",
        "- just one bullet",
        "Chapter 2) is the only numbered thing",
    ],
)
def test_prose_is_one_task_however_many_ands(goal: str) -> None:
    assert not classify_goal(goal).several


def _record(rating: float) -> OrchestrationRecord:
    return OrchestrationRecord(
        goal_text="g", plan=_plan(("a", "coder", (), 0.5)), success_rating=rating
    )


def test_auto_rule_plans_for_a_learned_orchestration_or_a_listed_goal() -> None:
    listed = "- a\n- b"
    assert decide("prose goal", agents=3, stored=_record(0.5), min_rating=0.5).orchestrate
    low = decide("prose goal", agents=3, stored=_record(0.2), min_rating=0.5)
    assert not low.orchestrate and low.reason == ""
    assert decide(listed, agents=2, stored=None, min_rating=0.5).orchestrate
    no_agents = decide(listed, agents=0, stored=None, min_rating=0.5)
    assert not no_agents.orchestrate and "no agents" in no_agents.reason
    assert not decide("prose goal", agents=4, stored=None, min_rating=0.5).orchestrate


# Plans ---------------------------------------------------------------------------------------


def test_a_good_plan_validates() -> None:
    plan = _plan(("a", "coder", (), 0.4), ("b", "writer", ("a",), 0.4))
    assert validate_plan(plan, AGENTS, pool_usd=1.0) == []
    assert dependents(plan, "a") == ["b"]
    schema = plan_schema(AGENTS)
    item = schema["properties"]["subtasks"]["items"]
    assert item["properties"]["agent"]["enum"] == AGENTS
    assert set(item["required"]) == {"id", "goal", "agent", "depends_on", "budget_share"}


def test_plan_validation_finds_every_problem() -> None:
    plan = _plan(
        ("a", "coder", ("c",), 0.5),
        ("b", "painter", ("a", "ghost"), 0.5),
        ("c", "writer", ("b",), 0.2),
        ("e", "writer", ("e",), 0.001),
        ("e", "writer", (), 0.099),
        ("Bad Id", "coder", (), 0.0),
    )
    errors = "\n".join(validate_plan(plan, AGENTS, pool_usd=1.0, taken=["zz"]))
    assert "unknown agent 'painter'" in errors
    assert "depends on unknown subtask 'ghost'" in errors
    assert "subtask id 'e' is used twice" in errors
    assert "subtask 'e' depends on itself" in errors
    assert "subtask id 'Bad Id' is invalid" in errors
    assert "budget_share must be above 0" in errors
    assert "add up to 1.30, over the cap of 1.00" in errors
    assert "a share of 0.001 is $0.0010" in errors  # too little for a model run
    assert "the dependencies form a cycle: a -> c -> b -> a" in errors


def test_revisions_may_depend_on_done_subtasks_but_not_reuse_ids() -> None:
    plan = _plan(("b2", "coder", ("a",), 0.5), ("b", "coder", (), 0.5))
    errors = validate_plan(plan, AGENTS, pool_usd=1.0, done=["a"], taken=["b"])
    assert errors == ["subtask id 'b' was used by the earlier plan: pick a new one"]
    assert validate_plan(plan, AGENTS, pool_usd=None, done=["a"]) == []


def test_find_cycle_and_malformed_plans() -> None:
    assert find_cycle(_plan(("a", "coder", ("b",), 0.1), ("b", "coder", (), 0.1))) == []
    with pytest.raises(PlanError, match="list of subtasks"):
        plan_from_dict({"steps": []})
    with pytest.raises(PlanError) as caught:
        plan_from_dict({"subtasks": [1, {"id": "a", "goal": 3, "agent": "x", "budget_share": "1"}]})
    assert len(caught.value.errors) == 3


# The budget split ----------------------------------------------------------------------------


def test_allocations_never_add_up_past_the_cap() -> None:
    pool = BudgetPool(1.0)
    assert pool.allocate("synthesis", pool.synthesis_reserve()) == 0.1
    plan_cap = pool.allocate("plan-1", pool.planning_cap())
    assert plan_cap == PLANNING_SHARE
    pool.charge("plan-1", 0.02)
    pool.close("plan-1")  # 0.08 unspent returns to the pool
    assert pool.free_usd == pytest.approx(0.88)
    free = pool.free_usd
    caps = [pool.allocate(f"1:{i}", share * free) for i, share in enumerate((0.5, 0.3, 0.2))]
    assert sum(caps) == pytest.approx(free) and pool.free_usd == pytest.approx(0)
    assert pool.allocate("greedy", 5.0) == 0.0  # nothing left: a cap is cut to what is free
    pool.charge("1:0", 0.3)
    assert pool.left("1:0") == pytest.approx(0.14)  # what a retry may still spend
    pool.charge("1:0", 0.5)  # an overshoot (the SDK checks after each turn)...
    pool.close("1:0")
    assert pool.free_usd == 0.0  # ...is never handed out again
    with pytest.raises(ValueError, match="already allocated"):
        pool.allocate("1:1", 0.1)
    # A small cap still leaves a model call enough to run, never more than a quarter of it.
    small = BudgetPool(0.12)
    assert small.planning_cap() == CALL_FLOOR_USD and small.synthesis_reserve() == 0.03


# The graph executor --------------------------------------------------------------------------


def run_async(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """A test written as a coroutine, run on a fresh event loop."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    return run


def _ok(sub: Subtask, text: str = "") -> SubtaskResult:
    attempt = Attempt("r-" + sub.id, "learner", "success", 0.01, 0.0, 0.1, result=text or sub.id)
    return SubtaskResult(sub, "success", text or f"result of {sub.id}", None, (attempt,))


@run_async
async def test_independent_subtasks_run_at_once_and_dependents_wait() -> None:
    plan = _plan(
        ("a", "coder", (), 0.2),
        ("b", "coder", (), 0.2),
        ("c", "coder", (), 0.2),
        ("d", "writer", ("a", "b", "c"), 0.2),
    )
    started: list[str] = []
    all_three = asyncio.Event()
    seen_deps: dict[str, list[str]] = {}

    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        started.append(sub.id)
        seen_deps[sub.id] = sorted(deps)
        if sub.id != "d":
            if len(started) == 3:
                all_three.set()
            # Each of a, b, c returns only once all three are running: proof they overlap.
            await asyncio.wait_for(all_three.wait(), timeout=5)
        return _ok(sub)

    results = await execute_plan(plan, run, parallel=4)
    assert started[:3] == ["a", "b", "c"] and started[3] == "d"
    assert seen_deps == {"a": [], "b": [], "c": [], "d": ["a", "b", "c"]}
    assert all(r.ok for r in results.values()) and list(results) == ["a", "b", "c", "d"]


@run_async
async def test_parallel_bounds_how_many_run_at_once() -> None:
    plan = _plan(*((str(i), "coder", (), 0.1) for i in range(6)))
    running = 0
    most = 0

    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)  # yield, so the others get their chance to start
        running -= 1
        return _ok(sub)

    await execute_plan(plan, run, parallel=2)
    assert most == 2


@run_async
async def test_a_failure_stops_new_starts_and_skips_dependents() -> None:
    plan = _plan(
        ("a", "coder", (), 0.2),
        ("b", "coder", (), 0.2),
        ("c", "writer", ("a",), 0.2),
        ("d", "writer", (), 0.2),
    )
    b_may_finish = asyncio.Event()
    skipped: list[str] = []

    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        if sub.id == "a":
            b_may_finish.set()
            return SubtaskResult(sub, "failed", error="boom")
        await b_may_finish.wait()  # b was running when a failed: it still finishes
        return _ok(sub)

    results = await execute_plan(
        plan, run, parallel=2, on_skip=lambda r: skipped.append(r.subtask.id)
    )
    assert results["a"].status == "failed" and results["b"].ok
    assert results["c"].status == "skipped" and "depends on a" in (results["c"].error or "")
    assert results["d"].status == "skipped" and "subtask a failed first" in (
        results["d"].error or ""
    )
    assert skipped == ["c", "d"]


@run_async
async def test_an_exception_cancels_the_subtasks_in_flight() -> None:
    plan = _plan(("a", "coder", (), 0.2), ("b", "coder", (), 0.2))
    cancelled = asyncio.Event()
    b_started = asyncio.Event()

    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        if sub.id == "a":
            await b_started.wait()
            raise RuntimeError("no model access")
        b_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    with pytest.raises(RuntimeError, match="no model access"):
        await execute_plan(plan, run, parallel=2)
    assert cancelled.is_set()


@run_async
async def test_a_revised_plan_builds_on_done_results() -> None:
    a = Subtask("a", "goal a", "coder")
    done = {"a": _ok(a, "A's report")}
    plan = _plan(("b2", "writer", ("a",), 0.5))
    got: dict[str, str] = {}

    async def run(sub: Subtask, deps: Mapping[str, SubtaskResult]) -> SubtaskResult:
        got.update({k: v.result for k, v in deps.items()})
        return _ok(sub)

    results = await execute_plan(plan, run, parallel=1, done=done)
    assert list(results) == ["b2"] and got == {"a": "A's report"}
    text = handover(done, retry_error="the watchdog stopped the run")
    assert "## a [coder]: goal a\n\nA's report" in text
    assert "A previous attempt at this subtask failed: the watchdog stopped the run" in text


# The orchestration trace ---------------------------------------------------------------------


def test_orchestration_trace_round_trips(tmp_path) -> None:
    record = OrchestrationRecord(
        goal_text="Build the site\n- pages\n- styles",
        plan=_plan(("pages", "coder", (), 0.5), ("styles", "coder", ("pages",), 0.25)),
        subtasks=(SubtaskRef("pages", "0123456789abcdef", "learner", 0.01),),
        result="Done.\n\n## Not a heading of ours",
        synthesis_sha256="f" * 64,
        planning_cost_usd=0.001,
        synthesis_cost_usd=0.002,
        estimated_cost_usd=0.05,
        model="claude-sonnet-4-5",
    )
    assert parse_record(render_record(record)) == record
    store = OrchestrationStore(tmp_path)
    path = store.save(record)
    assert path.name == f"{record.goal_signature}.md"
    assert store.find("build the site: pages, styles!") == record  # the same goal, normalised
    assert store.find("Build the site") is None
    path.write_text("---\nkind: something else\n---\n")
    assert store.find(record.goal_text) is None  # corrupt: ignored, never fatal
    counted = record.counted(ok=False)
    assert (counted.usage_count, counted.failure_count) == (2, 1)
    assert counted.success_rating < record.success_rating
