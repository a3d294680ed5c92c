"""Asking a human about the calls the security policy will not decide alone.

First the run guard (llmos/_internal/security/guard.py) and the terminal approver
(llmos/_internal/cli/approve.py) on their own; then end to end with the real `llmos` command, SDK
and CLI against the scripted model: `llmos run` in a pseudo-terminal (pexpect) where the user
approves, changes and rejects calls; and a Follower replay whose asked step needs an approval it
cannot get without a terminal, and gets with --yes. HOME is a temp folder: nothing outside it is
touched."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from conftest import MODEL, Sandbox, run_llmos
from rich.console import Console

from llmos._internal.cli.approve import TerminalApprover
from llmos._internal.cli.run_goal import approver_for
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.events import Event, ToolDecision
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.trace import parse
from llmos._internal.security.approval import (
    ApprovalRequest,
    Approve,
    Modify,
    Reject,
    Verdict,
    YesApprover,
)
from llmos._internal.security.audit import AuditLog
from llmos._internal.security.guard import RunGuard
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    say,
    use_tool,
)

# Harmless, but the policy cannot parse `case`: it asks a human.
ASKED = "case x in x) echo {v};; esac > {f}"


class Scripted:
    """An approver that answers from a list, and remembers what it was asked."""

    def __init__(self, *verdicts: Verdict) -> None:
        self.verdicts = list(verdicts)
        self.asked: list[ApprovalRequest] = []

    async def approve(self, request: ApprovalRequest) -> Verdict:
        self.asked.append(request)
        return self.verdicts.pop(0)


class Events:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.seen.append(event)

    def decisions(self) -> list[ToolDecision]:
        return [e for e in self.seen if isinstance(e, ToolDecision)]


def _review(
    sandbox: Sandbox, approver: Any, command: str, audit: AuditLog | None = None
) -> tuple[Any, list[ToolDecision], RunContext]:
    async def scenario() -> tuple[Any, list[ToolDecision], RunContext]:
        bus, events = EventBus(), Events()
        bus.subscribe(events, name="test")
        workdir = sandbox.root / "work"
        workdir.mkdir(exist_ok=True)
        ctx = RunContext(
            goal="g", project="default", workdir=workdir, mode="learner", budget_usd=1.0,
            bus=bus, home=sandbox.home,
        )  # fmt: skip
        guard = RunGuard(ctx, approver=approver, audit=audit)
        review = await guard.review("Bash", {"command": command}, tool_use_id="t1")
        await bus.close()
        return review, events.decisions(), ctx

    return asyncio.run(scenario())


# ------------------------------------------------------------------------------- the guard


def test_an_allowed_call_is_not_put_to_the_approver(sandbox: Sandbox) -> None:
    approver = Scripted()
    review, (event,), _ = _review(sandbox, approver, "ls -la")
    assert review.allowed and approver.asked == []
    assert (event.guard, event.allowed, event.decision) == ("security", True, "allow")


def test_a_denied_call_is_never_put_to_the_approver_not_even_yes(sandbox: Sandbox) -> None:
    for approver in (Scripted(Approve()), YesApprover()):
        review, (event,), ctx = _review(sandbox, approver, "rm -rf ~")
        assert not review.allowed and review.decision.rule == "rm-protected-path"
        assert (event.allowed, event.decision, event.approved_by) == (False, "deny", None)
        assert ctx.denied_calls == 1


@pytest.mark.parametrize(
    ("verdict", "allowed", "ran", "by", "reason"),
    [
        (Approve(), True, None, "the user", "approved by the user"),
        (YesApprover(), True, None, "--yes", "approved by --yes"),
        (Modify({"command": "echo b > b.txt"}), True, "echo b > b.txt", "the user", "changed"),
        (Modify({"command": "rm -rf ~"}), False, None, None, "changed call is denied"),
        (Reject("not that one"), False, None, None, "not that one"),
    ],
)
def test_what_the_policy_asks_about_goes_to_the_approver(
    sandbox: Sandbox, verdict: Any, allowed: bool, ran: str | None, by: str | None, reason: str
) -> None:
    approver = verdict if isinstance(verdict, YesApprover) else Scripted(verdict)
    audit = AuditLog(sandbox.root / "audit.db")
    command = ASKED.format(v="a", f="a.txt")
    review, (event,), _ = _review(sandbox, approver, command, audit)
    assert review.policy.action == "ask" and review.allowed is allowed
    assert event.guard == "approval" and event.decision == "ask"
    assert event.allowed is allowed and event.approved_by == by and reason in event.reason
    if isinstance(approver, Scripted):
        (request,) = approver.asked
        assert request.tool == "Bash" and request.rule == "unparseable"
        assert "could not be checked" in request.reason
    if ran:
        assert review.tool_input == {"command": ran} and event.updated_input == {"command": ran}
    (row,) = audit.entries()
    assert (row.decision, row.policy_decision, row.approved_by) == (
        "allow" if allowed else "deny",
        "ask",
        by,
    )
    assert json.loads(row.input) == {"command": command}
    assert (json.loads(row.ran_input) if row.ran_input else None) == (
        {"command": ran} if ran else review.tool_input if review.changed else None
    )


def test_with_nobody_to_ask_the_call_is_refused_with_why(sandbox: Sandbox) -> None:
    review, (event,), _ = _review(sandbox, None, ASKED.format(v="a", f="a.txt"))
    assert not review.allowed and review.policy.action == "ask"
    assert "needs a human's approval" in review.decision.reason
    assert "--yes" in review.decision.reason
    assert (event.guard, event.decision, event.allowed) == ("security", "ask", False)


def test_a_failing_approver_rejects(sandbox: Sandbox) -> None:
    class Broken:
        async def approve(self, request: ApprovalRequest) -> Verdict:
            raise RuntimeError("the prompt broke")

    review, _, _ = _review(sandbox, Broken(), ASKED.format(v="a", f="a.txt"))
    assert not review.allowed and "approval prompt failed" in review.decision.reason


# ----------------------------------------------------------------- the terminal approver


def _terminal(answers: list[str]) -> tuple[TerminalApprover, list[tuple[str, str]], Console]:
    asked: list[tuple[str, str]] = []

    def read(prompt: str, text: str) -> str:
        asked.append((prompt, text))
        if not answers:
            raise EOFError
        return answers.pop(0)

    console = Console(file=Path(os.devnull).open("w"), highlight=False)  # noqa: SIM115
    return TerminalApprover(console, read), asked, console


def _ask(approver: TerminalApprover, tool: str, tool_input: dict[str, Any]) -> Verdict:
    request = ApprovalRequest("r1", tool, tool_input, "a reason.", "unparseable")
    return asyncio.run(approver.approve(request))


def test_terminal_approver_answers() -> None:
    approver, asked, _ = _terminal(["maybe", "a"])
    assert _ask(approver, "Bash", {"command": "x"}) == Approve()
    assert [p for p, _ in asked] == ["approve, modify or reject? [a/m/r] "] * 2  # asked again

    approver, asked, _ = _terminal(["m", "echo y"])
    assert _ask(approver, "Bash", {"command": "x", "timeout": 5}) == Modify(
        {"command": "echo y", "timeout": 5}
    )
    assert asked[1] == ("command: ", "x")  # the command, ready to edit

    approver, asked, _ = _terminal(["m", "notes/a.md"])
    assert _ask(approver, "Write", {"file_path": "../a.md", "content": "x"}) == Modify(
        {"file_path": "notes/a.md", "content": "x"}
    )

    approver, asked, _ = _terminal(["m", "not json", '{"q": 2}'])
    assert _ask(approver, "mcp__llmos_x__y", {"q": 1}) == Modify({"q": 2})

    approver, _, _ = _terminal(["m", ""])  # nothing typed: unchanged
    assert _ask(approver, "Bash", {"command": "x"}) == Approve()

    approver, _, _ = _terminal(["r", "too risky"])
    assert _ask(approver, "Bash", {"command": "x"}) == Reject("too risky")

    approver, _, _ = _terminal(["n", ""])
    assert _ask(approver, "Bash", {"command": "x"}) == Reject("the user rejected this call")

    approver, _, _ = _terminal([])  # end of input
    assert _ask(approver, "Bash", {"command": "x"}) == Reject("the user rejected this call")


def test_who_approves_in_llmos_run() -> None:
    assert isinstance(approver_for(yes=True, interactive=False), YesApprover)
    assert approver_for(yes=False, interactive=False) is None
    # pytest's stdin is not a terminal: nobody to ask, even when not --json.
    assert approver_for(yes=False, interactive=True) is None


# --------------------------------------------------------------- llmos run in a terminal

_ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z]|\r)*"


def shown(text: str) -> str:
    return _ANSI.join(re.escape(char) for char in text)


@pytest.fixture
def terminal(sandbox: Sandbox) -> Iterator[list[pexpect.spawn]]:
    opened: list[pexpect.spawn] = []
    yield opened
    for child in opened:
        if child.isalive():
            child.terminate(force=True)


def _audit(sandbox: Sandbox) -> list[dict[str, Any]]:
    with sqlite3.connect(sandbox.workspace / "state" / "audit.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM policy_audit ORDER BY id")]


def _run_in_terminal(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminal: list[pexpect.spawn], goal: str
) -> pexpect.spawn:
    """`llmos run GOAL` in a pseudo-terminal, so that it asks its questions there."""
    env = {**os.environ, **scripted.client_env(sandbox.claude_config), "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmos", "run", "--model", MODEL, goal],
        env=env,
        cwd=str(sandbox.root),
        dimensions=(50, 250),
        encoding="utf-8",
        timeout=60,
    )
    terminal.append(child)
    return child


def test_run_in_a_terminal_asks_approve_modify_reject(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminal: list[pexpect.spawn]
) -> None:
    first = ASKED.format(v="a", f="first.txt")
    second = ASKED.format(v="b", f="second.txt")
    third = ASKED.format(v="c", f="third.txt")
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
    child = _run_in_terminal(sandbox, scripted, terminal, "Write three files")
    child.logfile_read = (sandbox.root / "terminal.log").open("w", encoding="utf-8")
    child.expect(shown(f"approval needed: Bash {first}"))
    child.expect(shown("approve, modify or reject? [a/m/r]"))
    child.send("a\r")
    child.expect(shown(f"approval needed: Bash {second}"))
    child.expect(shown("approve, modify or reject? [a/m/r]"))
    child.send("m\r")
    child.expect(shown("command:"))
    child.send("\x15echo changed > second.txt\r")  # Ctrl-U clears the command shown
    child.expect(shown(f"approval needed: Bash {third}"))
    child.expect(shown("approve, modify or reject? [a/m/r]"))
    child.send("r\r")
    child.expect(shown("reason, for the agent"))
    child.send("not that one\r")
    child.expect(shown("Done what I was allowed to."))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    scripted.assert_complete()

    output = sandbox.output
    assert (output / "first.txt").read_text() == "a\n"  # approved as it was
    assert (output / "second.txt").read_text() == "changed\n"  # as the user changed it
    assert not (output / "third.txt").exists()  # rejected: never ran
    rejected = results[2][0]
    assert rejected["is_error"] is True and "not that one" in str(rejected["content"])
    rows = _audit(sandbox)
    assert [(r["decision"], r["policy_decision"], r["approved_by"]) for r in rows] == [
        ("allow", "ask", "the user"),
        ("allow", "ask", "the user"),
        ("deny", "ask", None),
    ]
    assert json.loads(rows[1]["ran_input"]) == {"command": "echo changed > second.txt"}
    assert rows[2]["reason"] == "not that one"
    trace = Path(next(sandbox.traces.glob("*.md")))
    steps = parse(trace.read_text()).steps
    assert [s.input["command"] for s in steps] == [first, "echo changed > second.txt"]


def test_the_watchdog_waits_for_a_human_answering(
    sandbox: Sandbox, scripted: ScriptedModelServer, terminal: list[pexpect.spawn]
) -> None:
    """A person thinking over a question is neither a stalled model nor a hung tool."""
    run_llmos(sandbox, "status")  # creates the workspace and its config.yaml
    with (sandbox.workspace / "config.yaml").open("a") as config:
        config.write("\nstall_timeout_secs: 4\ntool_timeout_secs: 4\n")
    command = ASKED.format(v="late", f="late.txt")
    scripted.script(use_tool("Bash", command=command), say("Wrote it."))
    child = _run_in_terminal(sandbox, scripted, terminal, "Write late.txt")
    child.expect(shown("approve, modify or reject? [a/m/r]"))
    time.sleep(6)  # longer than both limits (4 s: room for the rest on a busy machine)
    child.send("a\r")
    child.expect(shown("Wrote it."))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (sandbox.output / "late.txt").read_text() == "late\n"


# ----------------------------------------------------------------- Follower replay


GOAL = "Write the greeting file"


def _learn_with_an_asked_step(sandbox: Sandbox, scripted: ScriptedModelServer) -> dict:
    command = ASKED.format(v="hello", f="greeting.txt")
    scripted.script(use_tool("Bash", command=command), say("Wrote greeting.txt."))
    proc = run_llmos(sandbox, "run", "--json", "--yes", "--model", MODEL, GOAL, server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    scripted.reset()
    (sandbox.output / "greeting.txt").unlink()
    return json.loads(proc.stdout)


def test_replay_of_an_asked_step_needs_approval(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    learned = _learn_with_an_asked_step(sandbox, scripted)
    assert learned["mode"] == "learner" and learned["trace_path"]

    refused = run_llmos(sandbox, "run", "--json", "--mode", "follower", GOAL, server=scripted)
    assert refused.returncode == 1
    summary = json.loads(refused.stdout)
    assert summary["status"] == "refused" and "needs a human's approval" in summary["error"]
    assert not (sandbox.output / "greeting.txt").exists()  # nothing ran

    approved = run_llmos(
        sandbox, "run", "--json", "--yes", "--mode", "follower", GOAL, server=scripted
    )
    assert approved.returncode == 0, approved.stdout
    assert json.loads(approved.stdout)["mode"] == "follower"
    assert (sandbox.output / "greeting.txt").read_text() == "hello\n"
    assert scripted.requests == []  # no model in either replay

    events = read_session(Path(json.loads(approved.stdout)["session_log"]))
    decisions = [e for e in events if e["kind"] == "tool_decision"]
    assert [(d["guard"], d["allowed"], d["approved_by"]) for d in decisions] == [
        ("approval", True, "--yes"),  # before the first step
        ("approval", True, "--yes"),  # at the step: approved before the replay started
    ]
    sources = [(r["source"], r["decision"], r["approved_by"]) for r in _audit(sandbox)]
    assert sources == [
        ("learner", "allow", "--yes"),
        ("follower", "deny", None),
        ("follower", "allow", "--yes"),
    ]


def test_auto_mode_falls_back_to_learner_when_replay_is_not_approved(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _learn_with_an_asked_step(sandbox, scripted)
    scripted.script(use_tool("Bash", command="echo hello > greeting.txt"), say("Done."))
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, GOAL, server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["mode"] == "learner" and "fell back" in summary["mode_reason"]
    assert (sandbox.output / "greeting.txt").read_text() == "hello\n"
