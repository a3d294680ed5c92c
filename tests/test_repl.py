"""The interactive REPL end to end: the real `llmos interactive` in a pseudo-terminal
(pexpect), the real SDK and CLI against the scripted model. Goals, slash commands, Tab
completion, Ctrl-C, inline approvals, /continue and Ctrl-D; then the pieces without a
terminal: completion, history, session state, the approver hook, unavailable commands."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from conftest import MODEL, Sandbox, run_llmos
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from llmos._internal.cli.repl.commands import SlashCommands
from llmos._internal.cli.repl.completion import SlashCompleter
from llmos._internal.cli.repl.delegate import FeatureUnavailable, run_cli
from llmos._internal.cli.repl.history import WorkspaceHistory
from llmos._internal.cli.repl.session import ReplSession
from llmos._internal.engine.builtin_hooks import security_hook
from llmos._internal.engine.types import RunRequest, RunSummary
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.trace import Trace, TraceStep, parse
from llmos._internal.presentation.run_tracker import RunTracker
from llmos._internal.security.approval import (
    ApprovalRequest,
    Approve,
    Modify,
    Reject,
    Verdict,
    needs_human,
)
from llmos._internal.security.policy import check_tool_call
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    say,
    use_tool,
)
from llmos._internal.workspace import Workspace

_ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


def shown(text: str) -> str:
    """`text` as the terminal receives it: escape sequences may sit between any characters."""
    return _ANSI.join(re.escape(char) for char in text)


class Terminal:
    """`llmos interactive` in a pseudo-terminal."""

    def __init__(self, sandbox: Sandbox, server: ScriptedModelServer, *args: str) -> None:
        env = dict(os.environ)
        env.update(server.client_env(sandbox.claude_config))
        # The pseudo-terminal is 200 columns wide: say so, whatever this process inherited.
        env.update({"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "200", "LINES": "50"})
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "llmos", "interactive", "--model", MODEL, *args],
            env=env,
            cwd=str(sandbox.root),
            dimensions=(50, 200),
            encoding="utf-8",
            timeout=30,
        )
        self.transcript = (sandbox.root / "terminal.log").open("w", encoding="utf-8")
        self.child.logfile_read = self.transcript
        self.prompt()

    def expect(self, text: str) -> None:
        try:
            self.child.expect(shown(text))
        except pexpect.TIMEOUT:
            screen = re.sub(_ANSI, "", str(self.child.before))[-3000:]
            raise AssertionError(
                f"{text!r} never appeared; the terminal showed:\n{screen}"
            ) from None

    def prompt(self, project: str = "default") -> None:
        self.expect(f"llmos {project}>")

    def line(self, text: str) -> None:
        self.child.send(text + "\r")

    def close(self) -> int:
        self.child.sendeof()  # Ctrl-D at the prompt
        self.child.expect(pexpect.EOF)
        self.child.close()
        self.transcript.close()
        return int(self.child.exitstatus or 0)


@pytest.fixture
def terminals(sandbox: Sandbox, scripted: ScriptedModelServer) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)


def _open(terminals: list[Terminal], sandbox: Sandbox, scripted: ScriptedModelServer, *args: str):
    terminal = Terminal(sandbox, scripted, *args)
    terminals.append(terminal)
    return terminal


def _runs(sandbox: Sandbox) -> list[dict[str, Any]]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY started_at")]


def _cli_processes_using(config_dir: Path) -> list[int]:
    needle = f"CLAUDE_CONFIG_DIR={config_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in environ and b"interactive" not in cmdline:
                found.append(int(proc.name))
    return found


# In a pseudo-terminal --------------------------------------------------------------------------
def test_goals_slash_commands_completion_and_errors(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, sandbox, scripted)
    scripted.script(
        use_tool("Write", file_path="hello.py", content='print("hi")\n'),
        say("Wrote hello.py."),
    )
    term.line("Create hello.py that says hi")
    term.expect("✓ Write")
    term.expect("Wrote hello.py.")
    term.expect("status")  # the summary table, as `llmos run` prints it
    term.expect("success")
    term.prompt()
    assert (sandbox.output / "hello.py").read_text() == 'print("hi")\n'
    scripted.assert_complete()
    (entry,) = TraceLibrary(Workspace.open(sandbox.workspace)).index.listing()

    term.line("/traces hello")
    term.expect(entry.signature)
    term.prompt()
    term.child.send("/sh\t")  # Tab completes the command...
    term.child.send(" \t")  # ...and the trace id (the only one)
    term.line("")
    term.expect("replayable in Follower mode")
    term.prompt()

    term.line("/mode follower")
    term.expect("mode: follower")
    term.prompt("default [follower]")
    term.line("Something never learned")  # Follower insists on a trace: an error...
    term.expect("error:")
    term.expect("no learned trace matches")
    term.prompt("default [follower]")  # ...and the REPL goes on
    term.line("Create hello.py that says hi")  # learned: replayed without the model
    term.expect("follower mode")
    term.expect("success")
    term.prompt("default [follower]")

    term.line("/project nowhere")
    term.expect("no project named 'nowhere'")
    term.line("/project create side")
    term.prompt("side [follower]")  # a project just created is where goals go next
    term.line("/budget 0.25")
    term.expect("each goal may spend $0.2500")
    term.child.send("/sta\t")
    term.line("")
    term.expect("this session")
    term.expect("$0.2500")
    term.prompt("side [follower]")
    term.line("/bogus")
    term.expect("unknown command /bogus")
    term.line("/schedule")
    term.expect("no scheduled jobs")
    term.prompt("side [follower]")
    term.line('/memory add "Greetings here are short"')
    term.expect("remembered fact")
    term.line("/memory search greetings")
    term.expect("Greetings here are short")
    term.prompt("side [follower]")
    term.line("/agents")
    term.expect("reviewer")  # the example agents of a new workspace
    term.prompt("side [follower]")
    assert term.close() == 0
    assert scripted.message_requests and len(scripted.message_requests) == 2  # 2 Learner turns
    history = (sandbox.workspace / "state" / "repl_history").read_text().splitlines()
    assert json.loads(history[0]) == "Create hello.py that says hi"
    assert json.loads(history[-1]) == "/agents"


def test_ctrl_c_interrupts_the_goal_and_the_repl_goes_on(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, sandbox, scripted)
    scripted.script(
        use_tool("Bash", command="echo started > started.txt"), Turn(text="...", delay=60)
    )
    term.line("Start, then think for a long time")
    term.expect("✓ Bash")
    assert scripted.wait_for_requests(2)  # the model is "thinking" now
    term.child.send("\x03")  # Ctrl-C
    term.expect("interrupted")
    term.prompt()
    (row,) = _runs(sandbox)
    assert row["status"] == "interrupted" and row["cost_usd"] > 0  # recorded, and charged
    assert (sandbox.output / "started.txt").exists()
    assert _cli_processes_using(sandbox.claude_config) == []  # the agent's CLI is gone
    events = read_session(sandbox.workspace / "memories" / "sessions" / f"{row['run_id']}.jsonl")
    assert events[-1]["kind"] == "run_finished" and events[-1]["status"] == "interrupted"

    term.child.send("half a goal\x03")  # Ctrl-C at the prompt clears the line
    scripted.script(say("Still here."))
    term.child.send("Say\x1b\r")  # Alt-Enter: a new line, not a goal yet
    term.child.send("some\\\r")  # so does Enter after a trailing backslash
    term.line("thing")
    term.expect("Still here.")
    term.prompt()
    assert [r["status"] for r in _runs(sandbox)] == ["interrupted", "success"]
    assert scripted.message_requests[-1].last_user_text == "Say\nsome\nthing"
    assert term.close() == 0


def _asked_commands() -> list[str]:
    """Benign commands the security policy will not decide alone (it cannot analyse them)."""
    candidates = [
        "case x in x) echo {v};; esac > {f}",
        "x=({v}); echo ${{x[0]}} > {f}",
    ]
    asked = []
    for command in candidates:
        decision = check_tool_call("Bash", {"command": command}, workdir=Path("/w"))
        if needs_human(decision.action, decision.rule):
            asked.append(command)
    assert asked, "the policy now decides every candidate: add one it asks a human about"
    return asked


def test_approvals_appear_inline_approve_modify_reject(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminals: list[Terminal]
) -> None:
    template = _asked_commands()[0]
    first = template.format(v="a", f="first.txt")
    second = template.format(v="b", f="second.txt")
    third = template.format(v="c", f="third.txt")
    results: list[list[dict[str, Any]]] = []

    def then(turn: Turn):
        def step(request: RecordedRequest) -> Turn:
            results.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Bash", command=first),
        then(use_tool("Bash", command=second)),
        then(use_tool("Bash", command=third)),
        then(say("Done what I was allowed to.")),
    )
    term = _open(terminals, sandbox, scripted)
    term.line("Write three files")
    term.expect(f"approval needed: Bash {first}")
    term.expect("approve, modify or reject?")
    term.line("a")
    term.expect(f"approval needed: Bash {second}")
    term.expect("approve, modify or reject?")
    term.line("m")
    term.expect("command:")
    term.line("\x15echo changed > second.txt")  # Ctrl-U clears the command shown
    term.expect(f"approval needed: Bash {third}")
    term.expect("approve, modify or reject?")
    term.line("r")
    term.expect("reason, for the agent")
    term.line("not that one")
    term.expect("✗ denied by approval")
    term.expect("Done what I was allowed to.")
    term.prompt()
    assert term.close() == 0
    scripted.assert_complete()

    assert (sandbox.output / "first.txt").read_text() == "a\n"  # approved as it was
    assert (sandbox.output / "second.txt").read_text() == "changed\n"  # as the user changed it
    assert not (sandbox.output / "third.txt").exists()  # rejected: never ran
    rejected = results[2][0]
    assert rejected["is_error"] is True and "not that one" in str(rejected["content"])
    (row,) = _runs(sandbox)
    trace = parse(Path(row["trace_path"]).read_text())
    assert [step.input["command"] for step in trace.steps] == [first, "echo changed > second.txt"]
    log = sandbox.workspace / "memories" / "sessions" / f"{row['run_id']}.jsonl"
    verdicts = [
        (e["allowed"], e["reason"])
        for e in read_session(log)
        if e["kind"] == "tool_decision" and e["guard"] == "approval"
    ]
    assert verdicts == [
        (True, "approved by the user"),
        (True, "approved by the user with a changed input"),
        (False, "not that one"),
    ]


def test_continue_carries_one_conversation_across_goals(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminals: list[Terminal]
) -> None:
    term = _open(terminals, sandbox, scripted)
    term.line("/continue")
    term.expect("goals now continue one conversation")
    term.prompt("default [continue]")
    scripted.script(use_tool("Bash", command="echo 1 > one.txt"), say("Made one.txt."))
    term.line("Make one.txt")
    term.expect("Made one.txt.")
    term.prompt("default [continue]")
    scripted.script(say("It holds 1."))
    term.line("What does it hold?")
    term.expect("It holds 1.")
    term.expect("continued a conversation")
    term.prompt("default [continue]")
    term.line("/new")
    term.expect("the next goal starts a new conversation")
    term.prompt("default [continue]")
    scripted.script(say("Fresh start."))
    term.line("Anything")
    term.expect("Fresh start.")
    term.prompt("default [continue]")
    assert term.close() == 0

    requests = scripted.message_requests
    texts = [json.dumps(r.messages) for r in requests]
    assert "Make one.txt" in texts[2] and "Made one.txt." in texts[2]  # the same conversation
    assert "Make one.txt" not in texts[3]  # after /new: a conversation of its own
    first, second, third = _runs(sandbox)
    # The CLI's cost total carries on across a resumed conversation; llmos charges each run
    # only what it added: here one scripted turn, as the fresh run's single turn costs.
    assert second["cost_usd"] == pytest.approx(third["cost_usd"])
    assert first["cost_usd"] == pytest.approx(2 * third["cost_usd"])
    assert first["trace_path"] and not second["trace_path"]  # a continued goal: no trace


def test_needs_a_terminal(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "interactive", stdin="Say hi\n")
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr and "Traceback" not in proc.stderr


# Without a terminal ----------------------------------------------------------------------------
def _workspace(sandbox: Sandbox) -> Workspace:
    return Workspace.open(sandbox.workspace)


def _completions(commands: SlashCommands, text: str) -> list[str]:
    completer = SlashCompleter(commands.table)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_completion_of_commands_trace_ids_and_projects(sandbox: Sandbox) -> None:
    ws = _workspace(sandbox)
    with TraceLibrary(ws) as library:
        library.add(Trace(goal_text="say hi", steps=(TraceStep(tool="Bash", input={}),)))
        (entry,) = library.index.listing()
    ws.project_dir("alpha")
    commands = SlashCommands(ReplSession(ws), Console(file=io.StringIO()))
    assert _completions(commands, "/sh") == ["/show"]
    assert _completions(commands, "/show ") == [entry.signature]
    assert _completions(commands, f"/show {entry.signature[:3]}") == [entry.signature]
    assert _completions(commands, "/traces show ") == [entry.signature]
    assert "alpha" in _completions(commands, "/project ")
    assert _completions(commands, "/mode le") == ["learner"]
    assert "add" in _completions(commands, "/schedule ")
    assert _completions(commands, "make hello.py") == []  # a goal: nothing to complete


def test_history_keeps_multiline_entries_newest_first(sandbox: Sandbox) -> None:
    path = sandbox.root / "history"
    history = WorkspaceHistory(path, limit=3)
    for entry in ("one", "two\nlines", "three", "four"):
        history.store_string(entry)
    assert list(WorkspaceHistory(path).load_history_strings()) == ["four", "three", "two\nlines"]


def _summary(session_id: str | None, cost: float, **kw: Any) -> RunSummary:
    fields: dict[str, Any] = {
        "run_id": "r", "goal": "g", "mode": "learner", "mode_reason": "", "status": "success",
        "project": "default", "workdir": "/w", "model": None, "turns": 1, "tool_calls": 0,
        "denied_calls": 0,
        "cost_usd": cost, "saved_usd": 0.0, "duration_secs": 1.0, "balance_usd": 1.0, "result": "",
        "trace_path": None, "session_log": "/l", "session_id": session_id,
    }  # fmt: skip
    return RunSummary(**{**fields, **kw})


def test_session_carries_the_conversation_and_its_cost(sandbox: Sandbox) -> None:
    session = ReplSession(_workspace(sandbox), continuing=True)
    first = session.request("one")
    assert first.resume_session is None
    session.finished(first, _summary("s1", 0.5))
    second = session.request("two")
    assert (second.resume_session, second.resume_cost_usd) == ("s1", 0.5)
    session.finished(second, _summary("s1", 0.25))
    tracker = RunTracker()
    third = session.request("three")
    session.interrupted(third, tracker)  # nothing was charged: the total stays
    assert session.request("four").resume_cost_usd == 0.75
    session.mode = "follower"
    assert session.request("five").resume_session is None  # a replay continues nothing
    session.mode = "auto"
    _workspace(sandbox).project_dir("other")
    assert session.switch_project("other") is True  # conversations live in one folder
    assert session.request("six").resume_session is None


def test_a_command_not_in_this_build_says_so(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmos._internal.cli import app as cli

    entry = cli.CommandEntry("llmos._internal.cli.not_yet_written:future_app", "Not written yet.")
    monkeypatch.setitem(cli.COMMANDS, "future", entry)
    with pytest.raises(FeatureUnavailable, match="not available yet"):
        asyncio.run(run_cli(_workspace(sandbox), "future", []))


class _Scripted:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.asked: list[ApprovalRequest] = []

    async def approve(self, request: ApprovalRequest) -> Verdict:
        self.asked.append(request)
        return self.verdict


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (Approve(), {}),
        (Modify({"command": "echo fine"}), "allow"),
        (Modify({"command": "rm -rf ~"}), "deny"),  # the human's version passes the policy too
        (Reject("no"), "deny"),
    ],
)
def test_the_security_hook_turns_a_humans_verdict_into_hook_output(
    sandbox: Sandbox, verdict: Verdict, expected: Any
) -> None:
    workdir = sandbox.root / "work"  # beside the home folder, not above it
    workdir.mkdir()

    async def scenario() -> dict[str, Any]:
        ctx = RunContext(
            goal="g", project="p", workdir=workdir, mode="learner", budget_usd=1.0,
            bus=EventBus(), home=sandbox.home,
        )  # fmt: skip
        decision = check_tool_call("Bash", {"command": "x=(1); echo"}, workdir=workdir)
        approver = _Scripted(verdict)
        hook = security_hook(ctx, approver)  # the Learner's PreToolUse hook
        hook_input = {"tool_name": "Bash", "tool_input": {"command": "x=(1); echo"}}
        output = await hook({**hook_input, "tool_use_id": "t1"})
        assert approver.asked[0].tool == "Bash" and approver.asked[0].rule == decision.rule
        return output

    output = asyncio.run(scenario())
    if expected == {}:
        assert output == {}
        return
    specific = output["hookSpecificOutput"]
    assert specific["permissionDecision"] == expected
    if expected == "allow":
        assert specific["updatedInput"] == {"command": "echo fine"}


def test_a_request_continuing_a_conversation_runs_in_learner_mode() -> None:
    from llmos._internal.errors import UsageError
    from llmos._internal.modes.dispatcher import _check_request, _continued

    request = RunRequest("and now?", resume_session="s1")
    choice = _continued(request)
    assert choice is not None and choice.mode == "learner"
    with pytest.raises(UsageError, match="only a Learner run"):
        _check_request(RunRequest("x", mode="follower", resume_session="s1"))


def test_slash_commands_refused_at_the_prompt(sandbox: Sandbox) -> None:
    from llmos._internal.errors import UsageError

    commands = SlashCommands(ReplSession(_workspace(sandbox)), Console(file=io.StringIO()))
    for line, message in [
        ("/run hi", "type the goal itself"),
        ("/kernel start", "terminal of its own"),
        ("/mode turbo", "unknown mode"),
        ("/budget lots", "not an amount"),
        ('/traces "unclosed', "cannot read the command"),
    ]:
        with pytest.raises(UsageError, match=message):
            asyncio.run(commands.dispatch(line))
    assert "/policy" in _completions(commands, "/pol")  # every llmos command is reachable


def test_the_run_tracker_follows_the_fallback_run(tmp_path: Path) -> None:
    """A replay that fell back to Learner is followed by a run of its own: what a signal ends
    is that second run, and that is the one reported."""
    from llmos._internal.kernel.events import RunFinished, RunStarted

    tracker = RunTracker()
    assert tracker.summary(tmp_path) is None
    for run_id, mode, status in (("r1", "follower", "diverged"), ("r2", "learner", None)):
        tracker(
            RunStarted(
                run_id=run_id,
                goal="g",
                mode=mode,
                project="default",
                workdir="/w",
                model=None,
                budget_usd=1.0,
            )
        )
        if status:
            tracker(
                RunFinished(
                    run_id=run_id,
                    status=status,
                    cost_usd=0.0,
                    turns=0,
                    tool_calls=1,
                    duration_secs=0.1,
                )
            )
    assert tracker.run_id == "r2" and tracker.summary(tmp_path) is None  # not ended yet
    tracker(
        RunFinished(
            run_id="r2",
            status="interrupted",
            cost_usd=0.02,
            turns=1,
            tool_calls=0,
            duration_secs=2.0,
        )
    )
    summary = tracker.summary(tmp_path)
    assert summary is not None
    assert (summary["run_id"], summary["mode"], summary["status"]) == (
        "r2",
        "learner",
        "interrupted",
    )
    assert summary["session_log"] == str(tmp_path / "r2.jsonl")
