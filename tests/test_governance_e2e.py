"""Governance end to end: the real `llmos` command, the real SDK and its bundled CLI against
the scripted model server. Checkers deny calls and send a run back before it may finish,
routers hand a goal to another agent or switch the model, evaluators' scores land in the
session log, the trace and `llmos insights`, and a bad policy entry is refused by name."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.memory.session_log import read_session, session_logs
from llmos._internal.memory.trace import parse
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    say,
    use_tool,
)

CALC = "def add(a, b):\n    return a + b\n"
TEST = (
    "import unittest\nfrom calc import add\n\n\n"
    "class AddTest(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
)


def _policy(sandbox: Sandbox, text: str) -> None:
    sandbox.workspace.mkdir(parents=True, exist_ok=True)
    (sandbox.workspace / "policy.yaml").write_text(text)


def _events(summary: dict, kind: str) -> list[dict]:
    return [e for e in read_session(Path(summary["session_log"])) if e["kind"] == kind]


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY started_at")]


def test_a_run_that_wrote_code_is_sent_back_to_run_its_tests(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(sandbox, "governance:\n  checkers:\n    - require: verify after write\n")
    feedback: list[str] = []

    def answer_the_feedback(request: RecordedRequest) -> Turn:
        feedback.append(json.dumps(request.messages[-1]))
        return use_tool("Bash", command="python3 -m unittest -q", description="Run the tests")

    scripted.script(
        use_tool("Write", file_path="calc.py", content=CALC),
        use_tool("Write", file_path="test_calc.py", content=TEST),
        say("calc.py and its test are written."),  # tries to finish: sent back
        answer_the_feedback,
        say("The tests pass."),
    )
    goal = "Write calc.py with an add function and a unit test for it"
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, goal, server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success" and summary["result"] == "The tests pass."

    # The model was sent back with what it must do first.
    (sent_back,) = feedback
    assert "llmos governance: before you finish" in sent_back
    assert (
        "(require verify after write) a write step (last: step 2 (Write test_calc.py)) has no "
        "verify step (tests, linters or type checkers) after it. Do what is missing now, then "
        "finish." in sent_back
    )
    assert summary["governance"]["sent_back"] == 1 and summary["governance"]["failed"] is None

    # Every checker result is in the session log: the finish check failed, then passed.
    finish = [e for e in _events(summary, "checker_results") if e["phase"] == "finish"]
    assert [e["allowed"] for e in finish] == [False, True]
    assert finish[0]["results"][0]["checker"] == "require verify after write"
    # Each step's type is recorded with its request.
    types = [(e["tool"], e["step_type"]) for e in _events(summary, "tool_requested")]
    assert types == [("Write", "write"), ("Write", "write"), ("Bash", "verify")]

    # Evaluators: in the session log...
    scores = {(e["evaluator"], e["scope"]): e for e in _events(summary, "score_recorded")}
    assert scores[("tests_passed", "step")]["score"] == 1.0
    assert scores[("tests_passed", "run")]["passed"] is True
    assert scores[("change_size", "run")]["measures"] == {"files": 2.0, "lines": 9.0}
    # ...on the trace (with each step's type)...
    trace = parse(Path(summary["trace_path"]).read_text())
    assert [s.step_type for s in trace.steps] == ["write", "write", "verify"]
    assert trace.scores["tests_passed"] == 1.0 and trace.scores["change_size.lines"] == 9.0
    assert "- **Type:** verify" in Path(summary["trace_path"]).read_text()
    # ...and in `llmos insights`.
    insights = json.loads(run_llmos(sandbox, "insights", "--json").stdout)
    evaluators = {e["evaluator"]: e for e in insights["governance"]["evaluators"]}
    assert evaluators["tests_passed"]["runs"] == 1 and evaluators["tests_passed"]["passed"] == 1
    assert evaluators["tests_passed"]["mean_score"] == 1.0
    text = run_llmos(sandbox, "insights")
    assert "tests_passed" in text.stdout and text.returncode == 0

    # The run as supersteps: each model turn with its calls, types, checks and scores.
    steps = run_llmos(sandbox, "sessions", "show", summary["run_id"], "--steps", "--json")
    assert steps.returncode == 0, steps.stderr
    view = json.loads(steps.stdout)
    turns = view["supersteps"]
    assert [t["type"] for t in turns] == ["plan", "plan", "respond", "plan", "respond"]
    assert turns[3]["calls"][0]["type"] == "verify"
    assert turns[3]["calls"][0]["scores"][0]["evaluator"] == "tests_passed"
    assert turns[2]["checks"][0]["passed"] is False  # the finish check that sent it back
    assert view["run"]["scores"]
    shown = run_llmos(sandbox, "sessions", "show", summary["run_id"], "--steps")
    assert shown.returncode == 0 and "verify" in shown.stdout
    assert "✗ require verify after write" in shown.stdout


def test_a_run_that_never_runs_its_tests_stops_after_the_bound_as_failed_governance(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(
        sandbox,
        "governance:\n  max_stop_blocks: 1\n  checkers:\n    - require: verify after write\n",
    )
    scripted.script(
        use_tool("Write", file_path="calc.py", content=CALC),
        say("Done."),  # sent back once
        say("Still done."),  # the bound is reached: it stops, failed
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Write calc.py", server=scripted)
    assert proc.returncode == 1, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    assert summary["status"] == "governance_failed" and summary["trace_path"] is None
    assert "require verify after write" in summary["error"]
    (row,) = _ledger(sandbox)
    assert row["status"] == "governance_failed" and row["cost_usd"] > 0


def test_read_before_edit_denies_a_blind_edit(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(sandbox, "governance:\n  checkers:\n    - require: read before edit\n")
    sandbox.output.mkdir(parents=True)
    (sandbox.output / "notes.txt").write_text("colour: red\n")
    results: list[list[dict]] = []

    def seen(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            results.append(request.tool_results())
            return turn

        return step

    # (The CLI itself refuses an Edit tool call of a file not Read first; an edit in place by
    # a command it lets through: governance's checker is what stops that one.)
    edit = "sed -i 's/red/blue/' notes.txt"
    scripted.script(
        use_tool("Bash", command=edit),  # blind: denied
        seen(use_tool("Read", file_path="notes.txt")),
        seen(use_tool("Bash", command=edit)),  # now it knows the file
        seen(say("The colour is blue now.")),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Make it blue", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    assert (sandbox.output / "notes.txt").read_text() == "colour: blue\n"
    denied = results[0][0]
    assert denied["is_error"] is True
    assert "llmos governance (require read before edit)" in str(denied["content"])
    assert "of notes.txt, which this run has not read. Read it first" in str(denied["content"])
    assert not results[2][0].get("is_error")
    assert summary["denied_calls"] == 1
    decisions = [e for e in _events(summary, "tool_decision") if e["guard"] == "governance"]
    assert [(d["tool"], d["rule"]) for d in decisions] == [("Bash", "require read before edit")]
    calls = [e for e in _events(summary, "checker_results") if e["phase"] == "call"]
    assert [e["allowed"] for e in calls] == [False, True, True]
    # The blind edit is not a step of the trace; the Read and the Edit are.
    trace = parse(Path(summary["trace_path"]).read_text())
    assert [(s.tool, s.step_type) for s in trace.steps] == [("Read", "read"), ("Bash", "write")]


def test_a_router_hands_a_repeatedly_failing_goal_to_another_agent(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(
        sandbox,
        "governance:\n  routes:\n"
        "    - when: the same command failed 3 times\n      then: hand over to coder\n",
    )
    handed: list[RecordedRequest] = []

    def coder_starts(request: RecordedRequest) -> Turn:
        handed.append(request)
        return use_tool("Write", file_path="greet.py", content='print("hi")\n')

    failing = use_tool("Bash", command="python3 greet.py")
    scripted.script(
        failing,
        use_tool("Bash", command="python3 greet.py"),
        use_tool("Bash", command="python3 greet.py"),  # the third failure: the route
        use_tool("Bash", command="python3 greet.py"),  # denied: the run is ending
        coder_starts,  # the coder's run
        use_tool("Bash", command="python3 greet.py"),
        say("greet.py now exists and runs."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Run greet.py", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success" and summary["result"] == "greet.py now exists and runs."
    handoff = summary["governance"]["handoff"]
    assert handoff["agent"] == "coder" and handoff["first_status"] == "handed_off"
    assert "failed 3 times" in handoff["reason"]

    # The coder was told what happened, as its agent.
    (first_request,) = handed
    told = " ".join(first_request.last_user_text.split())
    assert "You take over as the agent coder" in told
    assert "step 3 (Bash python3 greet.py): FAILED" in told
    assert 'llmos agent "coder"' in first_request.system_text

    # Two runs, linked: the first handed off, the second its child, as the coder.
    rows = _ledger(sandbox)
    assert [r["status"] for r in rows] == ["handed_off", "success"]
    assert rows[1]["parent_run"] == rows[0]["run_id"] and rows[1]["agent"] == "coder"
    assert summary["cost_usd"] == rows[0]["cost_usd"] + rows[1]["cost_usd"]
    logs = {p.stem: read_session(p) for p in session_logs(sandbox.workspace / "memories/sessions")}
    first = logs[handoff["from_run"]]
    (route,) = [e for e in first if e["kind"] == "route_taken"]
    assert route["action"] == "handoff" and route["target"] == "coder"
    assert logs[handoff["to_run"]][0]["parent_run_id"] == handoff["from_run"]
    # A hand-over's run finishes another's work: it is not saved as a trace.
    assert summary["trace_path"] is None
    assert not list(sandbox.traces.glob("*.md"))


def test_a_router_switches_the_model(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    _policy(
        sandbox,
        "governance:\n  routes:\n"
        "    - when: 2 failures\n      then: switch model to claude-haiku-5-5\n",
    )
    scripted.script(
        use_tool("Bash", command="false"),
        use_tool("Bash", command="exit 3"),  # the second failure: the route
        say("ok"),  # the CLI's one-token probe of the new model
        say("Both commands failed."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Try twice", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    models = [r.model for r in scripted.message_requests]
    assert models[:2] == [MODEL, MODEL] and models[-1] == "claude-haiku-5-5"
    summary = json.loads(proc.stdout)
    (route,) = _events(summary, "route_taken")
    assert route["action"] == "model" and "uses claude-haiku-5-5" in route["outcome"]


def test_a_bad_policy_vocabulary_entry_is_refused_naming_it(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(
        sandbox,
        "governance:\n  checkers:\n    - require: verify after write\n"
        "    - forbid: netwrk after credential-read\n",
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "anything", server=scripted)
    said = _json_error(proc)
    assert proc.returncode == 2
    assert "policy.yaml: governance.checkers[1] 'forbid: netwrk after credential-read'" in said
    assert "did you mean network?" in said and "Traceback" not in said
    assert not scripted.message_requests  # refused before anything was spent
    _policy(sandbox, "governance:\n  routes:\n    - when: the same comand failed 3 times\n"
                     "      then: hand over to coder\n")  # fmt: skip
    proc = run_llmos(sandbox, "run", "--json", "anything", server=scripted)
    said = _json_error(proc)
    assert proc.returncode == 2
    assert "governance.routes[0] 'when: the same comand failed 3 times, then: hand" in said
    assert "unknown condition 'the same comand failed 3 times'" in said
    _policy(
        sandbox, "governance:\n  routes:\n    - when: 3 failures\n      then: hand over to nobody\n"
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "anything", server=scripted)
    said = _json_error(proc)
    assert proc.returncode == 2 and "hands over to 'nobody'" in said
    assert "coder" in said and not scripted.message_requests


def test_a_learned_trace_is_refused_for_replay_by_a_checker(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """Checkers run over a trace's steps before a replay (Follower's preflight)."""
    scripted.script(use_tool("Write", file_path="calc.py", content=CALC), say("Written."))
    goal = "Write calc.py with an add function"
    learned = run_llmos(sandbox, "run", "--json", "--model", MODEL, goal, server=scripted)
    assert learned.returncode == 0, learned.stderr
    _policy(sandbox, "governance:\n  checkers:\n    - require: verify after write\n")
    (sandbox.output / "calc.py").unlink()
    proc = run_llmos(sandbox, "run", "--json", "--mode", "follower", goal, server=scripted)
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert summary["status"] == "refused" and not (sandbox.output / "calc.py").exists()
    assert "governance: require verify after write" in summary["error"]
    (checks,) = _events(summary, "checker_results")
    assert checks["phase"] == "replay" and checks["allowed"] is False
    assert not _events(summary, "tool_requested")  # nothing ran


QA_PLUGIN = '''
from pathlib import Path

from llmos._internal.governance import Route
from llmos.plugins import Plugin

plugin = Plugin("qa")


@plugin.tool(version="1.0.0", kind="verify")
def compile_all(workdir: Path) -> dict:
    """Check that every Python file of the working folder compiles."""
    files = sorted(workdir.glob("*.py"))
    for path in files:
        compile(path.read_text(), str(path), "exec")
    return {"ok": True, "files": len(files)}


@plugin.tool(version="1.0.0")
def count_words(text: str) -> int:
    """Count the words of a text (declared to return an integer; it does not)."""
    return {"words": len(text.split())}


@plugin.checker(phase="call")
def no_temp_files(history, call):
    path = str(call.input.get("file_path", ""))
    return "no .tmp files in this workspace" if path.endswith(".tmp") else None


@plugin.evaluator()
def short_runs(history):
    return 1.0 if len(history) <= 10 else 0.0
'''


def test_plugins_declare_kinds_checkers_evaluators_and_output_schemas(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(sandbox, "governance:\n  checkers:\n    - require: verify after write\n")
    (sandbox.workspace / "plugins").mkdir()
    (sandbox.workspace / "plugins" / "qa.py").write_text(QA_PLUGIN)
    results: list[list[dict]] = []

    def seen(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            results.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Write", file_path="notes.tmp", content="x"),  # the plugin's checker: denied
        seen(use_tool("Write", file_path="app.py", content="print('hi')\n")),
        seen(use_tool("mcp__llmos_qa__count_words", text="one two")),  # its output is wrong
        seen(say("Done.")),  # sent back: it wrote code and verified nothing
        use_tool("mcp__llmos_qa__compile_all"),  # the plugin's verify tool
        say("app.py compiles."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Write app.py", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    denied, _, wrong = (r[0] for r in results[:3])
    assert denied["is_error"] and "(qa.no_temp_files) no .tmp files" in str(denied["content"])
    assert not (sandbox.output / "notes.tmp").exists()
    assert wrong["is_error"] and "does not match its schema: $: expected integer" in str(
        wrong["content"]
    )
    output = [e for e in _events(summary, "checker_results") if e["phase"] == "output"]
    assert [e["results"][0]["passed"] for e in output] == [False, True]
    assert summary["governance"]["sent_back"] == 1
    trace = parse(Path(summary["trace_path"]).read_text())
    assert [(s.tool.split("__")[-1], s.step_type, s.outcome) for s in trace.steps] == [
        ("Write", "write", "ok"),
        ("count_words", "execute", "error"),
        ("compile_all", "verify", "ok"),
    ]
    assert trace.scores["qa.short_runs"] == 1.0 and trace.scores["tests_passed"] == 1.0


def test_the_model_graded_evaluator_when_enabled(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _policy(
        sandbox,
        "governance:\n  evaluators:\n    model_graded: {enabled: true, budget_usd: 0.05}\n",
    )
    scripted.script(
        use_tool("Write", file_path="hello.txt", content="hello\n"),
        say("hello.txt says hello."),
        use_tool("StructuredOutput", score=0.8, reason="The file was written as asked."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Write hello.txt", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = json.loads(proc.stdout)
    grading = scripted.message_requests[-1]
    assert grading.model == "claude-haiku-5-5" and "You grade the work" in grading.system_text
    assert "Goal: Write hello.txt" in grading.last_user_text
    assert "[write] step 1 (Write hello.txt): ok" in grading.last_user_text
    (graded,) = [e for e in _events(summary, "score_recorded") if e["evaluator"] == "model_graded"]
    assert graded["score"] == 0.8 and graded["passed"] is True
    assert graded["measures"]["cost_usd"] > 0
    (row,) = _ledger(sandbox)  # the grading's cost is the run's
    assert row["cost_usd"] == summary["cost_usd"] > graded["measures"]["cost_usd"]
    trace = parse(Path(summary["trace_path"]).read_text())
    assert trace.scores["model_graded"] == 0.8


def _json_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Under --json an error is the JSON object on stdout: its message and hint, flattened."""
    error = json.loads(proc.stdout)
    return " ".join(f"{error['error']} {error.get('hint') or ''}".split())
