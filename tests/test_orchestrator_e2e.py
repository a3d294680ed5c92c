"""Orchestrator mode end to end: the real `llmos` command, SDK and CLI against the scripted
model. Subtasks run as separate CLI processes at the same time, so the model's answers are
routed by what each request is (`Conversations`), never by arrival order."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.memory.session_log import read_session
from llmos._internal.orchestration.record import parse_record
from llmos._internal.testing.conversations import Conversations, first_user_text
from llmos._internal.testing.scripted_model import (
    Answer,
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    api_error,
    say,
    use_tool,
)

PLANNER = "You are the planner of llmos"
SYNTHESIS = "You write the final answer of an llmos orchestration"
KIT_GOAL = "Make the greeting kit:\n- write hello.txt\n- write bye.txt\n- combine them into kit.txt"
HELLO = "Write hello.txt saying hello"
BYE = "Write bye.txt saying bye"
KIT = "Combine hello.txt and bye.txt into kit.txt"


def subtask(
    sub_id: str, goal: str, agent: str = "coder", deps: tuple[str, ...] = (), share: float = 0.3
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "goal": goal,
        "agent": agent,
        "depends_on": list(deps),
        "budget_share": share,
    }


def plan(*subtasks: dict[str, Any]) -> Turn:
    return use_tool("StructuredOutput", subtasks=list(subtasks))


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY finished_at")]


def _run(sandbox: Sandbox, scripted: ScriptedModelServer, *args: str) -> tuple[int, dict]:
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, *args, server=scripted)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


class Log:
    """The order model calls were answered in, across threads."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def then(self, label: str, answer: Turn) -> Any:
        def step(request: RecordedRequest) -> Turn:
            with self._lock:
                self.calls.append(label)
            return answer

        return step


def _kit_routes(log: Log, meet: threading.Barrier | None = None) -> Conversations:
    def hello_first(request: RecordedRequest) -> Turn:
        if meet is not None:
            meet.wait()  # returns only once bye.txt's first call is in flight too
        return log.then("hello-1", use_tool("Write", file_path="hello.txt", content="hello\n"))(
            request
        )

    def bye_first(request: RecordedRequest) -> Turn:
        if meet is not None:
            meet.wait()
        return log.then("bye-1", use_tool("Write", file_path="bye.txt", content="bye\n"))(request)

    router = Conversations()
    router.on(
        None,
        plan(
            subtask("hello", HELLO),
            subtask("bye", BYE, agent="writer"),
            subtask("kit", KIT, deps=("hello", "bye")),
        ),
        system=PLANNER,
        name="planner",
    )
    router.on(
        None,
        say("The kit is ready: kit.txt says hello and bye."),
        system=SYNTHESIS,
        name="synthesis",
    )
    router.on(HELLO, hello_first, log.then("hello-2", say("hello.txt written")))
    router.on(BYE, bye_first, log.then("bye-2", say("bye.txt written")))
    router.on(
        KIT,
        log.then("kit-1", use_tool("Bash", command="cat hello.txt bye.txt > kit.txt")),
        log.then("kit-2", say("kit.txt combined")),
    )
    return router


def test_plan_then_parallel_subtasks_in_dependency_order_then_synthesis(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    log = Log()
    # hello and bye each wait for the other's first model call: they can only both get an
    # answer if they run at the same time (a timeout breaks the barrier and fails the run).
    router = _kit_routes(log, threading.Barrier(2, timeout=60))
    scripted.respond(router)
    code, summary = _run(sandbox, scripted, "--budget", "1", KIT_GOAL)  # auto mode decides
    assert code == 0, summary
    router.assert_complete()
    assert scripted.errors == []

    # Auto mode planned because the goal lists its tasks; the answer is the synthesis.
    assert summary["mode"] == "orchestrator" and summary["status"] == "success"
    assert "lists 3 tasks" in summary["mode_reason"]
    assert summary["result"] == "The kit is ready: kit.txt says hello and bye."
    assert (sandbox.output / "kit.txt").read_text() == "hello\nbye\n"

    # Dependency order: kit started only after hello and bye had both finished.
    assert log.calls.index("kit-1") > max(log.calls.index("hello-2"), log.calls.index("bye-2"))
    (kit_first, _) = router.calls(KIT)
    handed = first_user_text(kit_first)
    assert handed.startswith(KIT) and "hello.txt written" in handed and "bye.txt written" in handed
    (hello_first, _) = router.calls(HELLO)
    assert "bye.txt written" not in first_user_text(hello_first)  # not a dependency of hello

    # Each subtask ran as its agent: its prompt, its tools.
    (bye_first, _) = router.calls(BYE)
    assert "You are a technical writer" in bye_first.system_text
    assert sorted(bye_first.tool_names) == ["Edit", "Glob", "Read", "Write"]
    assert "You are a software engineer" in hello_first.system_text

    # The synthesis saw every subtask's report.
    (synthesis,) = router.calls("synthesis")
    text = first_user_text(synthesis)
    assert all(r in text for r in ("hello.txt written", "bye.txt written", "kit.txt combined"))

    # --json: the plan, each subtask's result, cost and mode.
    report = summary["orchestration"]
    assert report["plan_source"] == "planner" and report["rounds"] == 1
    assert [s["id"] for s in report["subtasks"]] == ["hello", "bye", "kit"]
    for item in report["subtasks"]:
        assert item["status"] == "success" and item["mode"] == "learner"
        assert item["cost_usd"] > 0 and len(item["attempts"]) == 1
        assert Path(item["trace_path"]).is_file()  # each subtask is a reusable trace
    assert [s["result"] for s in report["subtasks"]] == [
        "hello.txt written",
        "bye.txt written",
        "kit.txt combined",
    ]

    # The ledger: one row for the orchestration, one per subtask under it.
    rows = _ledger(sandbox)
    orchestration = next(r for r in rows if r["mode"] == "orchestrator")
    children = [r for r in rows if r["parent_run"] == summary["run_id"]]
    assert orchestration["run_id"] == summary["run_id"] and len(children) == 3
    assert sorted(r["agent"] for r in children) == ["coder", "coder", "writer"]
    assert summary["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    own = report["planning"]["cost_usd"] + report["synthesis"]["cost_usd"]
    assert orchestration["cost_usd"] == pytest.approx(own, abs=1e-6) and own > 0

    # Session logs: the orchestration's shows the plan and the subtasks; each subtask's
    # own log names the orchestration as its parent.
    events = read_session(Path(summary["session_log"]))
    kinds = [e["kind"] for e in events]
    assert "plan_ready" in kinds and kinds[-1] == "run_finished"
    # Governance checked the plan against its schema (an artifact check) before running it.
    (plan_check,) = [e for e in events if e["kind"] == "checker_results"]
    assert plan_check["phase"] == "artifact" and plan_check["allowed"] is True
    finished = [e for e in events if e["kind"] == "subtask_changed" and e["status"] == "success"]
    assert sorted(e["subtask_id"] for e in finished) == ["bye", "hello", "kit"]
    sessions = sandbox.workspace / "memories" / "sessions"
    for child in children:
        (first, *rest) = read_session(sessions / f"{child['run_id']}.jsonl")
        assert first["parent_run_id"] == summary["run_id"]
        # Each subtask is governed like any run: its steps typed, its run scored.
        assert all(e["step_type"] for e in rest if e["kind"] == "tool_requested")
        assert any(e["kind"] == "score_recorded" for e in rest)

    # The orchestration trace: the plan and a reference to each subtask's trace.
    record = parse_record(Path(summary["trace_path"]).read_text())
    assert [s.id for s in record.plan.subtasks] == ["hello", "bye", "kit"]
    assert {ref.id: ref.trace for ref in record.subtasks} == {
        item["id"]: Path(item["trace_path"]).stem for item in report["subtasks"]
    }


def test_a_second_run_replays_every_subtask_with_no_model_request(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.respond(_kit_routes(Log()))
    code, first = _run(sandbox, scripted, KIT_GOAL)
    assert code == 0, first
    for name in ("hello.txt", "bye.txt", "kit.txt"):
        (sandbox.output / name).unlink()
    scripted.reset()  # from here on, any model request would fail the run

    code, second = _run(sandbox, scripted, KIT_GOAL)
    assert code == 0, second
    assert scripted.requests == []  # not one request: plan, subtasks and answer all reused
    assert "reusing its plan" in second["mode_reason"]
    report = second["orchestration"]
    assert report["plan_source"] == "reused" and report["synthesis"]["reused"]
    assert [s["mode"] for s in report["subtasks"]] == ["follower"] * 3
    assert second["cost_usd"] == 0 and second["saved_usd"] > 0
    assert second["result"] == first["result"]
    assert (sandbox.output / "kit.txt").read_text() == "hello\nbye\n"  # really replayed
    record = parse_record(Path(second["trace_path"]).read_text())
    assert (record.usage_count, record.success_count) == (2, 2)

    # In the terminal: the plan as a tree, each subtask's status, mode and cost.
    shown = run_llmos(sandbox, "run", KIT_GOAL, server=scripted)
    assert shown.returncode == 0, shown.stderr
    assert "plan (reused; 3/3 done)" in shown.stdout
    assert "✓ kit coder after hello, bye follower $0.0000" in shown.stdout
    assert "3 succeeded (3 replayed at $0)" in shown.stdout
    assert scripted.requests == []


def test_subtasks_put_the_policys_questions_to_the_runs_approver(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """A subtask is a run like any other: what the policy asks about goes to the human who
    started the orchestration (here --yes), not refused for want of anyone to ask."""
    asked = "case x in x) echo one;; esac > one.txt"  # the policy cannot analyse it: asks
    one, two = "Write one.txt saying one", "Write two.txt saying two"
    router = Conversations()
    router.on(None, plan(subtask("one", one), subtask("two", two)), system=PLANNER, name="plan")
    router.on(None, say("one.txt and two.txt are written."), system=SYNTHESIS, name="answer")
    router.on(one, use_tool("Bash", command=asked), say("one.txt written"))
    router.on(two, use_tool("Write", file_path="two.txt", content="two\n"), say("two.txt written"))
    scripted.respond(router)
    code, summary = _run(
        sandbox, scripted, "--mode", "orchestrator", "--yes", "Write one.txt and two.txt"
    )
    assert code == 0, summary
    assert (sandbox.output / "one.txt").read_text() == "one\n"
    with sqlite3.connect(sandbox.workspace / "state" / "audit.db") as db:
        rows = db.execute(
            "SELECT decision, policy_decision, approved_by FROM policy_audit WHERE tool = 'Bash'"
        ).fetchall()
    assert rows == [("allow", "ask", "--yes")]


def test_a_failing_subtask_is_retried_then_the_plan_revised_then_the_failure_reported(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    broken = api_error(529, "Overloaded: the model is down")

    def planner(request: RecordedRequest) -> Turn:
        if "This is a revision" in first_user_text(request):
            return plan(subtask("bye-again", "Write bye.txt another way", share=0.5))
        return plan(
            subtask("hello", HELLO),
            subtask("bye", BYE),
            subtask("kit", KIT, deps=("hello", "bye")),
        )

    router = Conversations()
    router.on(None, planner, system=PLANNER, name="planner")
    router.on(HELLO, use_tool("Write", file_path="hello.txt", content="hello\n"), say("hello done"))
    router.on(BYE, broken)
    router.on("Write bye.txt another way", broken)
    scripted.respond(router)
    code, summary = _run(sandbox, scripted, "--mode", "orchestrator", "Kit")
    assert code == 1
    assert summary["status"] == "failed"  # never success with a failed subtask
    error = summary["error"]
    assert "subtask bye-again" in error and "failed after 2 attempt(s)" in error
    assert "Overloaded: the model is down" in error
    assert summary["trace_path"] is None  # a failed orchestration is not learned

    report = summary["orchestration"]
    status = {s["id"]: (s["status"], len(s["attempts"])) for s in report["subtasks"]}
    assert status == {
        "hello": ("success", 1),
        "bye": ("failed", 2),
        "kit": ("skipped", 0),
        "bye-again": ("failed", 2),
    }
    assert report["plan_source"] == "revised" and report["rounds"] == 2
    # The retry was told why the first attempt failed; the revision what was done and why
    # the subtask failed.
    bye_prompts = [first_user_text(r) for r in router.calls(BYE)]
    assert len(bye_prompts) >= 2 and "A previous attempt at this subtask failed" in bye_prompts[-1]
    revision = [r for r in router.calls("planner") if "This is a revision" in first_user_text(r)]
    text = first_user_text(revision[0])
    assert "Failed subtask bye" in text and "Overloaded" in text and "hello done" in text
    # Every attempt has its ledger row, under the orchestration.
    children = [r for r in _ledger(sandbox) if r["parent_run"] == summary["run_id"]]
    assert sorted(r["status"] for r in children) == ["error"] * 4 + ["success"]
    assert not (sandbox.workspace / "memories" / "orchestrations").exists() or not any(
        (sandbox.workspace / "memories" / "orchestrations").iterdir()
    )


def test_a_retry_and_a_revised_plan_rescue_the_run(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    def planner(request: RecordedRequest) -> Turn:
        if "This is a revision" in first_user_text(request):
            return plan(subtask("kit2", "Write kit.txt from hello.txt", deps=("hello",), share=0.5))
        return plan(subtask("hello", HELLO), subtask("kit", KIT, deps=("hello",)))

    hello_calls = []

    def hello_first(request: RecordedRequest) -> Answer:
        hello_calls.append(request)
        if len(hello_calls) == 1:
            return api_error(529, "Overloaded once")
        return use_tool("Write", file_path="hello.txt", content="hello\n")

    router = Conversations()
    router.on(None, planner, system=PLANNER, name="planner")
    router.on(None, say("kit.txt is ready."), system=SYNTHESIS, name="synthesis")
    router.on(HELLO, hello_first, say("hello done"))
    router.on(KIT, api_error(529, "Overloaded for good"))
    router.on(
        "Write kit.txt from hello.txt",
        use_tool("Bash", command="cp hello.txt kit.txt"),
        say("kit.txt copied"),
    )
    scripted.respond(router)
    code, summary = _run(sandbox, scripted, "--mode", "orchestrator", "Kit again")
    assert code == 0, summary
    report = summary["orchestration"]
    status = {s["id"]: (s["status"], len(s["attempts"])) for s in report["subtasks"]}
    assert status == {"hello": ("success", 2), "kit": ("failed", 2), "kit2": ("success", 1)}
    assert (sandbox.output / "kit.txt").read_text() == "hello\n"
    record = parse_record(Path(summary["trace_path"]).read_text())
    assert [s.id for s in record.plan.subtasks] == ["hello", "kit2"]  # what worked
    assert record.plan.share_total <= 1


def test_an_invalid_plan_is_asked_again_once_then_the_run_fails(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    cyclic = plan(
        subtask("a", "Do a", deps=("b",), share=0.7),
        subtask("b", "Do b", deps=("a",), share=0.7),
    )
    router = Conversations()
    router.on(None, cyclic, system=PLANNER, name="planner")
    scripted.respond(router)
    run_llmos(sandbox, "status")  # creates the workspace
    broken = sandbox.workspace / "agents" / "broken.md"
    broken.write_text("---\nname: broken\ntools: [Teleport]\n---\nx\n")
    code, summary = _run(sandbox, scripted, "--mode", "orchestrator", "Do a and b")
    assert code == 1 and summary["status"] == "error"
    assert "the plan was not usable after 2 attempt(s)" in summary["error"]
    assert "cycle: a -> b -> a" in summary["error"] and "add up to 1.40" in summary["error"]
    first, second = router.calls("planner")
    again = first_user_text(second)
    assert "Your previous plan was rejected" in again and "cycle" in again
    assert "rejected" not in first_user_text(first)
    assert len(scripted.message_requests) == 2  # no subtask ran
    (row,) = _ledger(sandbox)
    assert row["mode"] == "orchestrator" and row["status"] == "error" and row["cost_usd"] > 0
    # The broken agent file was reported, and never offered to the planner.
    notices = [
        e["text"] for e in read_session(Path(summary["session_log"])) if e["kind"] == "notice"
    ]
    assert any(str(broken) in n and "description is required" in n for n in notices)
    assert "broken" not in json.dumps(first.body["tools"])


def test_the_budget_is_split_by_share_and_never_past_the_cap(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    over = plan(subtask("hello", HELLO, share=0.8), subtask("bye", BYE, share=0.6))
    fixed = plan(subtask("hello", HELLO, share=0.6), subtask("bye", BYE, share=0.3))
    router = Conversations()
    router.on(
        None,
        lambda r: over if "rejected" not in first_user_text(r) else fixed,
        system=PLANNER,
        name="planner",
    )
    router.on(None, say("Both written."), system=SYNTHESIS, name="synthesis")
    router.on(HELLO, use_tool("Write", file_path="hello.txt", content="hello\n"), say("hi"))
    router.on(BYE, use_tool("Write", file_path="bye.txt", content="bye\n"), say("bye"))
    scripted.respond(router)
    code, summary = _run(sandbox, scripted, "--mode", "orchestrator", "--budget", "0.5", "Two")
    assert code == 0, summary
    report = summary["orchestration"]
    assert report["planning"]["asks"] == 2  # the shares over the cap were sent back once
    planning = report["planning"]["cost_usd"]
    pool = 0.5 - 0.5 * 0.10 - planning  # the cap, less the synthesis reserve and planning
    caps = {s["id"]: s["cap_usd"] for s in report["subtasks"]}
    assert caps["hello"] == round(0.6 * pool, 6) and caps["bye"] == round(0.3 * pool, 6)
    assert planning + sum(caps.values()) + 0.5 * 0.10 <= 0.5
    # Each subtask's Learner run got its share as its budget (max_budget_usd)...
    sessions = sandbox.workspace / "memories" / "sessions"
    for item in report["subtasks"]:
        (started, *_) = read_session(sessions / f"{item['attempts'][0]['run_id']}.jsonl")
        assert started["kind"] == "run_started"
        assert abs(started["budget_usd"] - item["cap_usd"]) < 1e-6
    # ...and the ledger holds a row per subtask under the run.
    rows = _ledger(sandbox)
    assert sum(1 for r in rows if r["parent_run"] == summary["run_id"]) == 2
    assert summary["cost_usd"] <= 0.5


def test_orchestrator_usage_errors_and_dry_run(sandbox: Sandbox) -> None:
    dry = run_llmos(sandbox, "run", "--dry-run", "--json", "Plan:\n1. a thing\n2. another")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["mode"] == "orchestrator"
    with_trace = run_llmos(sandbox, "run", "--mode", "orchestrator", "--trace", "abc", "g")
    assert with_trace.returncode == 2 and "--trace replays a trace" in with_trace.stderr
    for agent in (sandbox.workspace / "agents").glob("*.md"):
        agent.unlink()
    none = run_llmos(sandbox, "run", "--mode", "orchestrator", "g")
    assert none.returncode == 2 and "no agents to plan over" in none.stderr
    assert "llmos agents create" in none.stderr
    prose = run_llmos(sandbox, "run", "--dry-run", "--json", "Plan:\n1. a thing\n2. another")
    reason = json.loads(prose.stdout)["reason"]
    assert "no agents are defined" in reason  # listed, but nothing to plan over: Learner
