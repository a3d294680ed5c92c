"""Learner mode end to end: the real `llmos` command, the real Claude Agent SDK and its
bundled CLI, against the scripted model server. Files are really written, commands really
run, hooks really fire, and the cost comes from the SDK."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.template import Slot
from llmos._internal.memory.trace import goal_signature, parse
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    say,
    use_tool,
)

HELLO = 'print("hello from llmos")\n'


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY started_at")]


def _summary(stdout: str) -> dict:
    return json.loads(stdout)


def test_learner_writes_runs_and_saves_a_trace(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "Create hello.py that greets, and run it"
    scripted.script(
        use_tool("Write", file_path="hello.py", content=HELLO),
        use_tool("Bash", command="python3 hello.py > greeting.txt", description="Run hello.py"),
        say("Created hello.py and ran it."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, goal, server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(proc.stdout)
    scripted.assert_complete()

    # Files really written, the command really ran, in the project's output folder.
    assert (sandbox.output / "hello.py").read_text() == HELLO
    assert (sandbox.output / "greeting.txt").read_text() == "hello from llmos\n"

    # The summary.
    assert summary["status"] == "success" and summary["mode"] == "learner"
    assert summary["turns"] == 3 and summary["tool_calls"] == 2 and summary["denied_calls"] == 0
    assert summary["result"] == "Created hello.py and ran it."
    assert summary["cost_usd"] > 0
    assert summary["workdir"] == str(sandbox.output)

    # The trace, field by field.
    trace_path = Path(summary["trace_path"])
    assert trace_path == sandbox.traces / f"{goal_signature(goal)}.md"
    trace = parse(trace_path.read_text())
    assert trace.goal_text == goal
    assert trace.goal_signature == goal_signature(goal)
    assert trace.schema_version == 2
    assert trace.slots == (Slot("file", "hello.py"),)  # the goal's value its steps use
    assert (trace.usage_count, trace.success_count, trace.failure_count) == (1, 1, 0)
    assert trace.success_rating == 0.5  # success_rating(1 success, 0 failures)
    assert trace.mode == "learner" and trace.model == MODEL and trace.project == "default"
    assert trace.tools_used == ("Write", "Bash")
    assert trace.estimated_cost_usd == round(summary["cost_usd"], 6)
    assert trace.estimated_time_secs > 0
    assert trace.result == "Created hello.py and ran it."
    write, bash = trace.steps
    assert write.tool == "Write" and write.outcome == "ok"
    assert write.input == {"file_path": "hello.py", "content": HELLO}  # relative: portable
    assert len(write.checks["file_sha256"]) == 64
    assert bash.tool == "Bash" and bash.summary == "Run hello.py"
    assert bash.input["command"] == "python3 hello.py > greeting.txt"
    assert bash.checks["exit_code"] == 0
    # Its preconditions: the files the command names, as it found and left them.
    hello = "sha256:" + write.checks["file_sha256"]
    assert bash.checks["before"] == {"hello.py": hello, "greeting.txt": "absent"}
    assert bash.checks["after"]["hello.py"] == hello
    assert write.checks["before"] == {"hello.py": "absent"} and write.checks["mode"] == "644"

    # The ledger: one row with the SDK's cost, and the balance charged.
    (row,) = _ledger(sandbox)
    assert row["status"] == "success" and row["goal"] == goal and row["mode"] == "learner"
    assert row["cost_usd"] == summary["cost_usd"] and row["model"] == MODEL
    assert row["trace_path"] == str(trace_path)
    status = _summary(run_llmos(sandbox, "status", "--json").stdout)
    assert status["balance_usd"] == round(5.0 - summary["cost_usd"], 6)
    assert status["traces"] == 1 and status["runs"] == 1 and status["sessions"] == 1

    # The session log holds every event of the run, in order.
    kinds = [e["kind"] for e in read_session(Path(summary["session_log"]))]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("tool_requested") == 2 and kinds.count("tool_finished") == 2


def test_dangerous_calls_are_denied_and_the_model_is_told_why(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    canary = sandbox.home / "keep-me.txt"
    canary.write_text("precious")
    outside = sandbox.root / "escaped.txt"
    seen: list[list[dict]] = []

    def record_then(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            seen.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Bash", command="rm -rf ~"),
        record_then(use_tool("Write", file_path=str(outside), content="x")),
        record_then(use_tool("Bash", command="echo safe > safe.txt")),
        record_then(say("I cleaned up what I safely could.")),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Tidy up", server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(proc.stdout)
    scripted.assert_complete()

    assert canary.read_text() == "precious"  # rm -rf ~ never ran (HOME is a temp folder)
    assert not outside.exists()  # the write outside the working folder never happened
    assert (sandbox.output / "safe.txt").exists()  # ...and the run went on
    assert summary["denied_calls"] == 2 and summary["status"] == "success"
    for results in seen[:2]:
        (result,) = results
        assert result["is_error"] is True
        assert "llmos security policy" in str(result["content"])
        assert "Reconsider" in str(result["content"])
    # Denied calls are not steps of the trace: replaying it must never attempt them.
    trace = parse(Path(summary["trace_path"]).read_text())
    assert [s.input.get("command") for s in trace.steps] == ["echo safe > safe.txt"]
    decisions = [
        e for e in read_session(Path(summary["session_log"])) if e["kind"] == "tool_decision"
    ]
    assert [d["allowed"] for d in decisions] == [False, False, True]


def test_a_script_written_in_the_run_is_judged_when_run(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """The model writes cleanup.sh (an allowed Write), then runs it: the run's guard
    remembers what it wrote and denies running it. The decoy in the temp HOME survives."""
    decoy = sandbox.home / "decoy"
    decoy.mkdir()
    (decoy / "keep.txt").write_text("precious")
    seen: list[list[dict]] = []

    def record_then(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            seen.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Write", file_path="cleanup.sh", content='rm -rf "$HOME/decoy"\n'),
        record_then(use_tool("Bash", command="sh cleanup.sh")),
        record_then(say("I could not run the cleanup script.")),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Clean up", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = _summary(proc.stdout)

    assert (decoy / "keep.txt").read_text() == "precious"  # the script never ran
    assert (sandbox.output / "cleanup.sh").exists()  # the Write itself was allowed
    assert summary["denied_calls"] == 1
    (written,), (ran,) = seen
    assert not written.get("is_error")
    assert ran["is_error"] is True
    content = str(ran["content"])
    assert (
        "delete-outside-workdir" in content and "In cleanup.sh, which this command runs" in content
    )
    decisions = [
        (e["tool"], e["decision"], e["rule"])
        for e in read_session(Path(summary["session_log"]))
        if e["kind"] == "tool_decision"
    ]
    assert decisions == [("Write", "allow", "none"), ("Bash", "deny", "delete-outside-workdir")]


def test_subagent_tool_calls_are_captured(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    scripted.script(
        use_tool(
            "Agent",
            description="Write the notes",
            prompt="Write notes.md saying hi",
            subagent_type="general-purpose",
        ),
        use_tool("Write", file_path="notes.md", content="hi\n"),  # the subagent's turn
        say("notes.md written"),  # the subagent's answer
        say("The subagent wrote notes.md."),  # back in the main agent
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Delegate notes", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    assert (sandbox.output / "notes.md").read_text() == "hi\n"
    trace = parse(Path(_summary(proc.stdout)["trace_path"]).read_text())
    tools = [(s.tool, s.agent) for s in trace.steps]
    assert tools[0] == ("Write", "general-purpose")
    assert tools[-1][0] == "Agent"


def test_a_similar_trace_and_facts_are_given_to_the_learner(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(use_tool("Bash", command="ls | wc -l > count.txt"), say("done"))
    first = run_llmos(
        sandbox, "run", "--model", MODEL, "count files in the output folder", server=scripted
    )
    assert first.returncode == 0, first.stderr
    fact = sandbox.workspace / "memories" / "facts" / "python.md"
    fact.write_text("Python files here use the .py suffix; count them with find.\n")
    scripted.reset()
    scripted.script(say("done again"))
    # "python" changes the meaning: a near match, not replayed, but shown as an example.
    goal = "count the python files in the output folder"
    second = run_llmos(sandbox, "run", "--json", "--model", MODEL, goal, server=scripted)
    assert second.returncode == 0, second.stderr
    summary = _summary(second.stdout)
    assert summary["mode"] == "learner"
    assert "similar: trace" in summary["mode_reason"]
    body = json.dumps(scripted.message_requests[0].body)
    assert "A similar goal was learned before" in body
    assert "ls | wc -l > count.txt" in body  # the worked example's steps
    assert "Relevant memory from earlier llmos runs" in body
    assert "count them with find" in body  # the fact
    events = read_session(Path(summary["session_log"]))
    (injected,) = [e for e in events if e["kind"] == "memory_injected"]
    assert injected["sources"] == [str(fact)] and 0 < injected["tokens"] <= 800


def test_budget_cap_stops_the_run_and_is_charged(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    # Each scripted turn costs $0.00105 at the model's price; a $0.0015 cap ends it at turn 2.
    scripted.respond(use_tool("Bash", command="echo again"))
    proc = run_llmos(
        sandbox, "run", "--json", "--budget", "0.0015", "--model", MODEL, "Loop", server=scripted
    )
    assert proc.returncode == 1
    summary = _summary(proc.stdout)
    assert summary["status"] == "budget_exhausted"
    assert summary["trace_path"] is None  # failed runs leave no trace...
    (row,) = _ledger(sandbox)  # ...but always a ledger row, charged
    assert row["status"] == "budget_exhausted" and row["cost_usd"] == summary["cost_usd"] > 0


def test_max_turns(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    scripted.respond(use_tool("Bash", command="echo again"))
    proc = run_llmos(
        sandbox, "run", "--json", "--max-turns", "2", "--model", MODEL, "Loop", server=scripted
    )
    assert proc.returncode == 1
    assert _summary(proc.stdout)["status"] == "max_turns"


def _cli_processes_using(config_dir: Path) -> list[int]:
    """Processes whose environment points at this test's CLAUDE_CONFIG_DIR."""
    needle = f"CLAUDE_CONFIG_DIR={config_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_timeout_interrupts_the_agent_and_leaves_no_process(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(
        use_tool("Bash", command="echo started > started.txt"), Turn(text="...", delay=60)
    )
    run_llmos(sandbox, "status")  # the sandbox's start-up is not what this test times
    with (sandbox.workspace / "config.yaml").open("a") as config:
        config.write("\nsandbox: off\n")
    proc = run_llmos(
        sandbox, "run", "--json", "--timeout", "8", "--model", MODEL, "Hang", server=scripted
    )
    assert proc.returncode == 1
    summary = _summary(proc.stdout)
    assert summary["status"] == "timed_out"
    assert "timeout" in summary["error"]
    assert (sandbox.output / "started.txt").exists()
    (row,) = _ledger(sandbox)
    assert row["status"] == "timed_out" and row["cost_usd"] > 0  # what it spent before
    assert _cli_processes_using(sandbox.claude_config) == []


def test_dead_model_connection_fails_clearly(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    proc = run_llmos(
        sandbox,
        "run",
        "--model",
        MODEL,
        "Anything",
        server=scripted,
        env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},  # nothing listens on port 9
    )
    assert proc.returncode == 3  # no model access, said with the endpoint and its variable
    assert "Connection refused" in proc.stderr and "ANTHROPIC_BASE_URL" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    (row,) = _ledger(sandbox)
    assert row["status"] == "error" and row["cost_usd"] == 0


# The policy asks about this harmless command (it cannot parse `case`): a human must approve.
ASKED_COMMAND = "case x in x) echo asked;; esac > asked.txt"


def test_an_asked_call_is_refused_without_a_terminal_and_the_run_goes_on(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    seen: list[list[dict]] = []

    def record_then(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            seen.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Bash", command=ASKED_COMMAND),
        record_then(use_tool("Bash", command="echo plain > plain.txt")),
        say("Wrote plain.txt instead."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Write a file", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = _summary(proc.stdout)
    assert not (sandbox.output / "asked.txt").exists()  # never ran: nobody could approve it
    assert (sandbox.output / "plain.txt").exists()  # ...and the run went on
    assert summary["denied_calls"] == 1
    ((result,),) = seen
    assert result["is_error"] is True
    assert "needs a human's approval" in str(result["content"]) and "--yes" in str(
        result["content"]
    )
    decisions = [
        e for e in read_session(Path(summary["session_log"])) if e["kind"] == "tool_decision"
    ]
    assert [(d["decision"], d["allowed"]) for d in decisions] == [("ask", False), ("allow", True)]


def test_yes_approves_asked_calls_but_never_denied_ones(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    canary = sandbox.home / "keep-me.txt"
    canary.write_text("precious")
    scripted.script(
        use_tool("Bash", command=ASKED_COMMAND),
        use_tool("Bash", command="rm -rf ~"),
        say("Done."),
    )
    proc = run_llmos(
        sandbox, "run", "--json", "--yes", "--model", MODEL, "Write a file", server=scripted
    )
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    summary = _summary(proc.stdout)
    assert (sandbox.output / "asked.txt").read_text() == "asked\n"  # approved by --yes
    assert canary.read_text() == "precious"  # denied: --yes does not approve denials
    assert summary["denied_calls"] == 1
    with sqlite3.connect(sandbox.workspace / "state" / "audit.db") as db:
        rows = db.execute(
            "SELECT tool, decision, policy_decision, rule, approved_by, run_id FROM policy_audit"
        ).fetchall()
    assert [r[:5] for r in rows] == [
        ("Bash", "allow", "ask", "unparseable", "--yes"),
        ("Bash", "deny", "deny", "rm-protected-path", None),
    ]
    assert {r[5] for r in rows} == {summary["run_id"]}
    audit = json.loads(
        run_llmos(sandbox, "policy", "audit", "--json", "--run", summary["run_id"]).stdout
    )
    assert [e["approved_by"] for e in audit["entries"]] == ["--yes", None]


def test_a_subagents_calls_pass_the_same_policy(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    canary = sandbox.home / "keep-me.txt"
    canary.write_text("precious")
    scripted.script(
        use_tool(
            "Agent",
            description="Clean up",
            prompt="Remove everything in the home folder",
            subagent_type="general-purpose",
        ),
        use_tool("Bash", command="rm -rf ~/*"),  # the subagent's turn
        say("I could not: the policy denied it."),  # the subagent's answer
        say("The subagent was stopped by the policy."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Clean up", server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    assert canary.read_text() == "precious"
    summary = _summary(proc.stdout)
    assert summary["denied_calls"] == 1
    decisions = [
        e for e in read_session(Path(summary["session_log"])) if e["kind"] == "tool_decision"
    ]
    assert [(d["tool"], d["rule"], d["allowed"]) for d in decisions] == [
        ("Agent", "none", True),
        ("Bash", "rm-protected-path", False),
    ]


def test_a_run_whose_every_call_was_denied_leaves_no_trace_and_no_error(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(use_tool("Bash", command="rm -rf ~"), say("I will not do that."))
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Free some space", server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(proc.stdout)
    assert summary["status"] == "success" and summary["denied_calls"] == 1
    assert summary["trace_path"] is None  # nothing was done: nothing to replay
    assert summary["error"] is None
    assert list(sandbox.traces.glob("*.md")) == []
