"""The gateway end to end, served in this process (one gateway for the module, in front of the
scripted model server), with real clients: the Claude Code CLI bundled in the SDK's wheel,
and apps on the `anthropic` client. Commands really run; the denied ones never reach the
client; the questions go to an approver the test scripts.

`llmos gateway` as a command (keys, budgets, the HTTP and terminal approvers, save and
replay, signals) is tested in test_gateway_cli_e2e.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from conftest import MODEL, Sandbox, run_llmos
from gateway_support import ScriptedApprover, claude_env, run_claude, transcript_text

from llmos._internal.gateway.app import Gateway
from llmos._internal.gateway.config import GatewayConfig
from llmos._internal.gateway.server import GatewayThread
from llmos._internal.gateway.store import GatewayStore
from llmos._internal.memory.session_log import read_session, verify_session
from llmos._internal.security.approval import Approve, Modify, Reject
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    ToolCall,
    Turn,
    say,
    use_tool,
)
from llmos._internal.workspace import Workspace

POLICY = "version: 1\nask:\n  commands: ['echo needs-approval*']\n"
SHELL_TOOL = {
    "name": "execute_command",
    "description": "Run a shell command.",
    "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}},
}


@dataclass
class Harness:
    thread: GatewayThread
    ws: Path
    workdir: Path
    approver: ScriptedApprover
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.thread.url

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="sk-client", max_retries=0, **kwargs)

    def close_conversations(self) -> None:
        async def close(gateway: Gateway) -> None:
            await gateway.conversations.close_all()

        self.thread.call(close)

    def rows(self, query: str, *args: Any, database: str = "llmos.db") -> list[dict[str, Any]]:
        """Rows of the ledger (or of `database`, another one in state/)."""
        assert self.thread.gateway is not None
        self.thread.gateway.conversations.audit.flush()  # audit rows are written by a thread
        with sqlite3.connect(self.ws / "state" / database) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query, args)]

    def decisions(self, kind: str = "decision") -> list[dict[str, Any]]:
        return [fields for k, fields in self.events if k == kind]


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, model_server: ScriptedModelServer
) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("gateway")
    ws_root, workdir = root / "ws", root / "work"
    Workspace.open(ws_root)
    (ws_root / "policy.yaml").write_text(POLICY)
    workdir.mkdir()
    approver = ScriptedApprover()
    events: list[tuple[str, dict[str, Any]]] = []
    config = GatewayConfig(
        upstream=model_server.base_url,
        workdir=workdir,
        system_rules=True,
        approval_timeout_secs=3,
        ping_secs=0.2,
        think_again_limit=2,
        idle_close_secs=3600,
    )
    thread = GatewayThread(
        lambda: Gateway(
            Workspace.open(ws_root),
            config,
            approver=approver,
            report=lambda kind, fields: events.append((kind, fields)),
        )
    ).start()
    yield Harness(thread, ws_root, workdir, approver, events)
    thread.stop()


@pytest.fixture
def cwd(gw: Harness) -> Path:
    """This test's folder inside the gateway's working folder (where the client works)."""
    path = gw.workdir / uuid.uuid4().hex[:8]
    path.mkdir()
    gw.approver.answers.clear()
    gw.approver.asked.clear()
    return path


def _claude(gw: Harness, sandbox: Sandbox, scripted: ScriptedModelServer, cwd: Path, prompt: str):
    env = claude_env(scripted, gw.url, sandbox.claude_config, sandbox.home)
    return run_claude(prompt, cwd=cwd, env=env)


# ----------------------------------------------------------------------- Claude Code, streamed


def test_claude_code_allowed_runs_denied_never_reaches_it(
    gw: Harness, scripted: ScriptedModelServer, sandbox: Sandbox, cwd: Path
) -> None:
    decoy = sandbox.home / "decoy.txt"
    decoy.write_text("keep me")
    seen: list[list[dict[str, Any]]] = []

    def after_rejection(request: RecordedRequest) -> Turn:
        seen.append(request.tool_results())
        return use_tool("Bash", command="echo cleaned > cleaned.txt", description="clean here")

    scripted.script(
        use_tool("Bash", command="echo hi > out.txt", description="write out.txt"),
        Turn(text="Now the home folder.", tool_calls=(ToolCall("Bash", {"command": "rm -rf ~"}),)),
        after_rejection,
        say("All done."),
    )
    proc = _claude(gw, sandbox, scripted, cwd, "Tidy up")
    assert proc.returncode == 0, proc.stderr
    assert "All done." in proc.stdout
    scripted.assert_complete()
    # The allowed calls ran; the denied one never did.
    assert (cwd / "out.txt").read_text() == "hi\n"
    assert (cwd / "cleaned.txt").read_text() == "cleaned\n"
    assert decoy.read_text() == "keep me"
    # The model was told why, in the turn the gateway sent back; the client never saw it.
    (result,) = seen[0]
    assert result["is_error"] and "rm-protected-path" in result["content"]
    assert "Think again" in result["content"]
    assert "rm -rf ~" not in transcript_text(sandbox.claude_config)
    assert "Now the home folder." in transcript_text(sandbox.claude_config)  # text stays
    # What reached the upstream: the CLI's headers unchanged, the rules in the system prompt.
    first = scripted.message_requests[0]
    assert first.query == "beta=true" and first.headers["x-api-key"] == "sk-scripted"
    assert "claude-code-20250219" in first.headers["anthropic-beta"]
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert first.headers["user-agent"].startswith("claude-cli/")
    assert "llmos's security policy" in first.system_text
    # Audited: the rejection, by the gateway, with the rule.
    denied = gw.rows(
        "SELECT * FROM policy_audit WHERE decision = 'deny' AND input LIKE '%rm -rf ~%'",
        database="audit.db",
    )
    assert (
        denied and denied[-1]["source"] == "gateway" and denied[-1]["rule"] == "rm-protected-path"
    )


@pytest.mark.parametrize("answer", ["approve", "modify", "reject", "modify-denied"])
def test_claude_code_ask_approve_modify_reject(
    gw: Harness, scripted: ScriptedModelServer, sandbox: Sandbox, cwd: Path, answer: str
) -> None:
    asked = "echo needs-approval > asked.txt"
    verdict = {
        "approve": Approve(),
        "modify": Modify({"command": "echo needs-approval-changed > changed.txt"}),
        "reject": Reject("not today, write plan-b instead"),
        "modify-denied": Modify({"command": "rm -rf ~"}),
    }[answer]
    gw.approver.answers.append(verdict)
    sent_back: list[str] = []

    def next_turn(request: RecordedRequest) -> Turn:
        results = request.tool_results()
        if results and results[0].get("is_error"):
            sent_back.append(str(results[0]["content"]))
            return use_tool("Bash", command="echo plan-b > planb.txt")
        return say("Finished.")

    scripted.script(use_tool("Bash", command=asked), next_turn)
    scripted.respond(say("Finished."))
    proc = _claude(gw, sandbox, scripted, cwd, f"Publish it ({answer})")
    assert proc.returncode == 0, proc.stderr
    (question,) = gw.approver.asked
    assert question.tool == "Bash" and question.input["command"] == asked
    assert question.rule == "policy-ask"
    files = sorted(p.name for p in cwd.iterdir())
    audit = gw.rows(
        "SELECT * FROM policy_audit WHERE input LIKE ? ORDER BY id",
        f"%{asked}%",
        database="audit.db",
    )[-1]
    assert audit["policy_decision"] == "ask"
    if answer == "approve":
        assert files == ["asked.txt"] and audit["approved_by"] == "the user"
        assert audit["decision"] == "allow" and not sent_back
    elif answer == "modify":
        assert files == ["changed.txt"]  # what the human wrote ran, not the model's call
        assert json.loads(audit["ran_input"])["command"].startswith("echo needs-approval-changed")
        assert "needs-approval-changed" in transcript_text(sandbox.claude_config)
    elif answer == "reject":
        assert files == ["planb.txt"] and "not today, write plan-b instead" in sent_back[0]
        assert audit["decision"] == "deny"
    else:  # the human's change is checked again, and denied: the model thinks again
        assert files == ["planb.txt"] and "changed call is denied" in sent_back[0]


# -------------------------------------------------------------------- the anthropic client


def test_non_streaming_other_client_tool_names_and_think_again(
    gw: Harness, scripted: ScriptedModelServer, cwd: Path
) -> None:
    scripted.script(
        Turn(text="Let me clean.", tool_calls=(ToolCall("execute_command", {"cmd": "rm -rf ~"}),)),
        Turn(text="Listing instead.", tool_calls=(ToolCall("execute_command", {"cmd": "ls"}),)),
        say("Here is the list."),
    )
    client = gw.client()
    question = [{"role": "user", "content": f"clean up {cwd.name}"}]
    message = client.messages.create(
        model=MODEL, max_tokens=100, tools=[SHELL_TOOL], messages=question
    )
    # The client gets the final, allowed answer, billed for both attempts.
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Listing instead."  # type: ignore[union-attr]
    call = message.content[1]
    assert (
        call.type == "tool_use" and call.name == "execute_command" and call.input == {"cmd": "ls"}
    )
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (200, 100)
    retry = scripted.message_requests[1]
    (rejected,) = retry.tool_results()
    assert rejected["is_error"] and "rm-protected-path" in rejected["content"]
    # The client runs the call and answers: the result is captured as a trace step.
    answer = client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[SHELL_TOOL],
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a.txt"}],
            },
        ],
    )
    assert answer.content[0].text == "Here is the list."  # type: ignore[union-attr]
    scripted.assert_complete()
    conversation = gw.decisions("opened")[-1]
    steps = _steps(gw, conversation["run_id"])
    assert steps == [
        {"tool": "Bash", "input": {"command": "ls"}, "outcome": "ok", "result": "a.txt"}
    ]


def test_streaming_keeps_text_and_numbers_blocks_on(
    gw: Harness, scripted: ScriptedModelServer, cwd: Path
) -> None:
    scripted.script(
        Turn(text="Let me clean.", tool_calls=(ToolCall("execute_command", {"cmd": "rm -rf ~"}),)),
        Turn(text="Listing instead.", tool_calls=(ToolCall("execute_command", {"cmd": "ls"}),)),
    )
    with gw.client().messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=[SHELL_TOOL],
        messages=[{"role": "user", "content": f"clean up {cwd.name}"}],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e for e in events if e.type == "content_block_start"]
    assert [e.index for e in starts] == [0, 1, 2]
    assert sum(1 for e in events if e.type == "message_start") == 1
    assert [b.type for b in final.content] == ["text", "text", "tool_use"]
    assert final.content[0].text == "Let me clean."  # type: ignore[union-attr]
    assert final.content[1].text == "Listing instead."  # type: ignore[union-attr]
    assert final.content[2].input == {"cmd": "ls"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (200, 100)
    scripted.assert_complete()


def test_think_again_limit_ends_the_turn(
    gw: Harness, scripted: ScriptedModelServer, cwd: Path
) -> None:
    stubborn = Turn(tool_calls=(ToolCall("execute_command", {"cmd": "rm -rf /"}),))
    scripted.script(stubborn, stubborn, stubborn)  # the first try and think_again_limit (2) more
    with gw.client().messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=[SHELL_TOOL],
        messages=[{"role": "user", "content": f"wipe {cwd.name}"}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text"] and final.stop_reason == "end_turn"
    assert "found no other way after 3 attempt(s)" in final.content[0].text  # type: ignore[union-attr]
    scripted.assert_complete()


def test_no_answer_in_time_is_a_rejection_and_pings_keep_the_stream_alive(
    gw: Harness, scripted: ScriptedModelServer, cwd: Path
) -> None:
    gw.approver.answers.append(None)  # nobody answers: approval_timeout_secs (3 s) rejects
    scripted.script(
        use_tool("Bash", command="echo needs-approval"),
        use_tool("Bash", command="echo fine"),
    )
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": f"ask {cwd.name}"}],
    }
    headers = {"x-api-key": "sk-client", "anthropic-version": "2023-06-01"}
    with httpx2.stream(
        "POST", gw.url + "/v1/messages", json=body, headers=headers, timeout=30
    ) as r:
        raw = b"".join(r.iter_bytes()).decode()
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names.count("ping") >= 5  # every 0.2 s while the question waited
    assert names.count("message_start") == 1 and names[-1] == "message_stop"
    assert '"echo fine"' in raw.replace('\\"', '"') and "needs-approval" not in raw
    (_, retry) = scripted.message_requests
    assert "nobody answered within 3 s" in retry.tool_results()[0]["content"]


def test_count_tokens_and_headers_pass_unchanged(
    gw: Harness, scripted: ScriptedModelServer
) -> None:
    client = gw.client(default_headers={"x-custom": "kept", "anthropic-version": "2023-06-01"})
    counted = client.messages.count_tokens(
        model=MODEL, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
    )
    assert counted.input_tokens > 0
    (request,) = scripted.requests
    assert request.path == "/v1/messages/count_tokens"
    assert (
        request.system_text.startswith("Be brief.")
        and "llmos's security policy" in request.system_text
    )
    scripted.script(say("hello"))
    message = client.beta.messages.create(
        model=MODEL,
        max_tokens=10,
        betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": "hi"}],
        extra_query={"beta": "true"},  # as Claude Code sends it
    )
    assert message.content[0].text == "hello"  # type: ignore[union-attr]
    sent = scripted.message_requests[-1]
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-custom"] == "kept"
    assert sent.headers["authorization"] == "Bearer sk-client"  # this client's way to send it
    assert sent.headers["user-agent"].startswith("Anthropic/Python")


def test_twenty_concurrent_sessions(gw: Harness, scripted: ScriptedModelServer) -> None:
    def model(request: RecordedRequest) -> Turn:
        number = int(str(request.messages[0]["content"]).split()[-1])
        results = request.tool_results()
        if not results:
            command = "rm -rf ~" if number % 2 else f"echo session-{number}"
            return use_tool("execute_command", cmd=command)
        if results[0].get("is_error"):  # sent back by the gateway
            return use_tool("execute_command", cmd=f"echo retry-{number}")
        return say(f"done {number}")

    scripted.respond(model)
    client = gw.client()
    run_tag = uuid.uuid4().hex[:6]

    def session(number: int) -> tuple[str, str]:
        question = [{"role": "user", "content": f"{run_tag} session {number}"}]
        kwargs = {"model": MODEL, "max_tokens": 50, "tools": [SHELL_TOOL]}
        if number % 3:
            first = client.messages.create(messages=question, **kwargs)  # type: ignore[arg-type]
        else:
            with client.messages.stream(messages=question, **kwargs) as stream:  # type: ignore[arg-type]
                first = stream.get_final_message()
        call = next(b for b in first.content if b.type == "tool_use")
        final = client.messages.create(
            messages=[
                *question,
                {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "ok"}],
                },
            ],
            **kwargs,  # type: ignore[arg-type]
        )
        return call.input["cmd"], final.content[0].text  # type: ignore[index,union-attr]

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(session, range(20)))
    for number, (command, answer) in enumerate(results):
        expected = f"echo retry-{number}" if number % 2 else f"echo session-{number}"
        assert (command, answer) == (expected, f"done {number}")
    with GatewayStore(gw.ws / "state" / "gateway.db") as store:
        ours = [c for c in store.conversations(limit=200) if c.title.startswith(run_tag)]
    assert len(ours) == 20  # one conversation per session, however they interleaved
    for row in ours:
        odd = int(row.title.split()[-1]) % 2
        assert (row.requests, row.model_calls, row.tool_calls, row.denied) == (
            2,
            2 + odd,
            1 + odd,
            odd,
        )


# ------------------------------------------------------------ the run: log, ledger, sessions


def test_a_conversation_is_a_run(
    gw: Harness, scripted: ScriptedModelServer, sandbox: Sandbox, cwd: Path
) -> None:
    write = ToolCall("Write", {"file_path": str(cwd / "a.txt"), "content": "A\n"})
    scripted.script(
        Turn(text="Writing it.", tool_calls=(write,)),
        Turn(tool_calls=(ToolCall("Bash", {"command": "cat /etc/shadow"}),)),
        use_tool("Bash", command="cat a.txt"),
        say("It says A."),
    )
    proc = _claude(gw, sandbox, scripted, cwd, "Write a.txt and show it")
    assert proc.returncode == 0, proc.stderr
    run_id = gw.decisions("opened")[-1]["run_id"]
    gw.close_conversations()
    log = gw.ws / "memories" / "sessions" / f"{run_id}.jsonl"
    assert verify_session(log).ok
    events = read_session(log)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    for kind in ("tool_requested", "tool_decision", "think_again", "model_call", "trace_step"):
        assert kind in kinds, kind
    reasoning = [e for e in events if e["kind"] == "assistant_text" and e["agent"] == "reasoning"]
    assert reasoning[0]["text"] == "Writing it."  # the model's words before its call
    assert [e["text"] for e in events if e["kind"] == "assistant_text" and not e["agent"]] == [
        "It says A."
    ]
    # The ledger: one row, mode gateway, the cost of 4 model calls at the model's prices
    # (the CLI asks for claude-opus-5-5: $4/$20 per Mtok; 100 tokens in, 50 out each).
    (row,) = gw.rows("SELECT * FROM runs WHERE run_id = ?", run_id)
    assert row["mode"] == "gateway" and row["status"] == "success" and row["turns"] == 4
    assert row["cost_usd"] == pytest.approx(4 * (100 * 4 + 50 * 20) / 1e6)
    assert row["tool_calls"] == 3
    # `llmos sessions show` renders it.
    shown = run_llmos(sandbox, "sessions", "show", run_id, env={"LLMOS_HOME": str(gw.ws)})
    assert shown.returncode == 0, shown.stderr
    assert "gateway mode" in shown.stdout and "cat /etc/shadow" in shown.stdout
    assert "credential" in shown.stdout and "integrity ok" in shown.stdout


def _steps(gw: Harness, run_id: str, *, at_least: int = 1) -> list[dict[str, Any]]:
    """The trace steps in a conversation's session log. The log is written by the bus's
    subscriber thread, so a step captured a moment ago may take a moment to appear."""
    log = gw.ws / "memories" / "sessions" / f"{run_id}.jsonl"
    deadline = time.monotonic() + 10
    while True:
        steps = [
            {k: e["step"][k] for k in ("tool", "input", "outcome", "result")}
            for e in read_session(log)
            if e["kind"] == "trace_step"
        ]
        if len(steps) >= at_least or time.monotonic() > deadline:
            return steps
        time.sleep(0.05)


def test_twenty_claude_code_sessions_at_once(
    gw: Harness, scripted: ScriptedModelServer, sandbox: Sandbox, cwd: Path
) -> None:
    """20 real Claude Code CLIs through the gateway at once: each its own conversation (by
    its session header), each allowed call run, each denied one sent back to its model."""

    def model(request: RecordedRequest) -> Turn:
        number = int(str(request.last_user_text).split()[-1]) if not request.tool_results() else -1
        results = request.tool_results()
        if number >= 0:
            command = "rm -rf ~" if number % 2 else f"echo {number} > s{number}.txt"
            return use_tool("Bash", command=command)
        if results[0].get("is_error"):
            opening = _opening(request)
            return use_tool("Bash", command=f"echo {opening} > r{opening}.txt")
        return say("done")

    scripted.respond(model)
    config_dirs = [sandbox.root / f"claude-{n}" for n in range(20)]

    def session(number: int) -> int:
        env = claude_env(scripted, gw.url, config_dirs[number], sandbox.home)
        return run_claude(f"session {number}", cwd=cwd, env=env, timeout=180).returncode

    opened = len(gw.decisions("opened"))
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(session, range(20)))
    assert codes == [0] * 20
    made = sorted(p.name for p in cwd.iterdir())
    assert made == sorted(f"{'r' if n % 2 else 's'}{n}.txt" for n in range(20))
    assert len(gw.decisions("opened")) - opened == 20


def _opening(request: RecordedRequest) -> int:
    for message in request.messages:
        if message.get("role") == "user":
            content = message["content"]
            texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content]
            words = [t for t in texts if t and not t.lstrip().startswith("<system-reminder>")]
            return int(words[0].split()[-1])
    raise AssertionError("no user message")


def test_governance_checks_a_client_agents_calls_by_their_history(
    gw: Harness, scripted: ScriptedModelServer, sandbox: Sandbox, cwd: Path
) -> None:
    """The project's governance applies to gateway conversations: `require: read before
    edit` refuses Claude Code's blind Edit (the model is told why and reads first), and the
    Edit after the Read goes through; the calls' step types are in the session log."""
    notes = cwd / "notes.txt"
    notes.write_text("draft\n")
    policy = gw.ws / "policy.yaml"
    policy.write_text(POLICY + "governance:\n  checkers:\n    - require: read before edit\n")
    edit = ToolCall("Edit", {"file_path": str(notes), "old_string": "draft", "new_string": "final"})
    try:
        scripted.script(
            Turn(tool_calls=(edit,)),  # blind: refused by governance, sent back to the model
            Turn(tool_calls=(ToolCall("Read", {"file_path": str(notes)}),)),
            Turn(tool_calls=(edit,)),
            say("notes.txt says final."),
        )
        proc = _claude(gw, sandbox, scripted, cwd, "Make notes.txt say final")
    finally:
        policy.write_text(POLICY)
    assert proc.returncode == 0, proc.stderr
    assert notes.read_text() == "final\n"
    (refused,) = scripted.message_requests[1].tool_results()
    assert refused["is_error"] and "read before edit" in refused["content"]
    run_id = gw.decisions("opened")[-1]["run_id"]
    gw.close_conversations()
    events = read_session(gw.ws / "memories" / "sessions" / f"{run_id}.jsonl")
    checks = [e for e in events if e["kind"] == "checker_results"]
    assert [c["allowed"] for c in checks] == [False, True, True]
    types = {e["tool"]: e["step_type"] for e in events if e["kind"] == "tool_requested"}
    assert types == {"Edit": "write", "Read": "read"}
