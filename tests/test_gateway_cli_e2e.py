"""`llmos gateway` as a user runs it: the real command in a child process, the real Claude
Code CLI as its client, the scripted model server as its upstream. Keys and budgets, the
HTTP and terminal approvers, saving a conversation and replaying it with `llmos run`,
signals, a killed gateway, and the command's errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import Sandbox, run_llmos
from gateway_support import claude_env, run_claude

from llmos._internal.memory.session_log import read_session, verify_session
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

ASK_POLICY = "version: 1\nask:\n  commands: ['echo needs-approval*']\n"


class GatewayProcess:
    """`llmos gateway --port 0 ...` in a child process; its output read as it comes."""

    def __init__(
        self,
        sandbox: Sandbox,
        server: ScriptedModelServer,
        *args: str,
        env: dict[str, str] | None = None,
        json_lines: bool = True,
    ) -> None:
        self.sandbox = sandbox
        child_env = dict(os.environ, COLUMNS="200", **(env or {}))
        argv = [sys.executable, "-P", "-m", "llmos", "gateway", "--port", "0"]
        argv += ["--upstream", server.base_url, "--workdir", str(sandbox.root / "work")]
        argv += ["--json"] if json_lines else []
        (sandbox.root / "work").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [*argv, *args],
            cwd=sandbox.root,
            env=child_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(30):
            self.proc.kill()
            raise AssertionError(f"the gateway did not start: {self.proc.stderr.read()}")
        self.url = self._url()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "listening" in line or "llmos gateway on" in line:
                self._ready.set()
        self._ready.set()

    def _url(self) -> str:
        first = next(line for line in self.lines if "listening" in line or "gateway on" in line)
        if first.startswith("{"):
            return str(json.loads(first)["url"])
        return first.split(" on ")[1].split()[0]

    @property
    def work(self) -> Path:
        return self.sandbox.root / "work"

    def info(self) -> dict[str, Any]:
        port = self.url.rsplit(":", 1)[1]
        return json.loads(
            (self.sandbox.workspace / "state" / "gateway" / f"{port}.json").read_text()
        )

    def events(self, kind: str) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            if line.startswith("{"):
                event = json.loads(line)
                if event["event"] == kind:
                    out.append(event)
        return out

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _claude(
    gw: GatewayProcess, sandbox: Sandbox, scripted: ScriptedModelServer, prompt: str, **env: str
):
    return run_claude(
        prompt,
        cwd=gw.work,
        env=claude_env(scripted, gw.url, sandbox.claude_config, sandbox.home, **env),
    )


def _ledger(sandbox: Sandbox) -> list[dict[str, Any]]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs WHERE mode = 'gateway'")]


def test_gateway_keys_budgets_and_a_clean_stop(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    made = run_llmos(sandbox, "gateway", "keys", "add", "ci", "--budget", "0.002", "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["key"]
    gw = GatewayProcess(
        sandbox, scripted, "--require-key", env={"ANTHROPIC_API_KEY": "sk-upstream"}
    )
    try:
        # A client without a gateway key is refused, as the API refuses a bad key.
        refused = httpx2.post(
            gw.url + "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": []},
            headers={"x-api-key": "sk-ant-someone"},
        )
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        # Each model call costs $0.0014 (claude-opus-5-5, 100 in, 50 out): the budget
        # ($0.002) pays for two, and the third request is refused.
        scripted.script(
            use_tool("Bash", command="echo one > one.txt"),
            use_tool("Bash", command="echo two > two.txt"),
            say("done"),
        )
        proc = _claude(gw, sandbox, scripted, "Write two files", ANTHROPIC_API_KEY=secret)
        assert (gw.work / "one.txt").exists() and (gw.work / "two.txt").exists()
        # The client shows the API error it got, and stops.
        assert proc.returncode == 1 and "API Error: 402" in proc.stdout
        assert "gateway key ci has spent its budget ($0.0028 of $0.0020)" in proc.stdout
        assert scripted.pending == 1  # the third turn was never asked for
        sent = scripted.message_requests
        assert len(sent) == 2 and all(r.headers["x-api-key"] == "sk-upstream" for r in sent)
        listed = run_llmos(sandbox, "gateway", "keys", "list", "--json")
        (key,) = json.loads(listed.stdout)["keys"]
        assert key["name"] == "ci" and key["spent_usd"] == pytest.approx(0.0028)
        assert gw.stop(signal.SIGTERM) == 0  # a server stopped is a server done
    finally:
        gw.kill()
    (closed,) = gw.events("closed")
    assert closed["status"] == "budget_exhausted"
    (row,) = _ledger(sandbox)
    assert row["status"] == "budget_exhausted" and row["cost_usd"] == pytest.approx(0.0028)
    log = sandbox.workspace / "memories" / "sessions" / f"{row['run_id']}.jsonl"
    assert verify_session(log).ok
    listed = json.loads(run_llmos(sandbox, "gateway", "sessions", "--json").stdout)
    (conversation,) = listed["conversations"]
    assert conversation["key_name"] == "ci" and conversation["status"] == "closed"
    assert conversation["runs"] == [row["run_id"]] and conversation["requests"] == 3


def test_http_approver_then_save_and_replay(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    run_llmos(sandbox, "status")  # the workspace, to put a policy in it
    (sandbox.workspace / "policy.yaml").write_text(ASK_POLICY)
    gw = GatewayProcess(sandbox, scripted, "--approver", "http")
    goal = "Write hello.txt and stamp it"
    try:
        scripted.script(
            use_tool("Write", file_path=str(gw.work / "hello.txt"), content="hello\n"),
            use_tool("Bash", command="echo needs-approval >> hello.txt"),
            say("Stamped."),
        )
        client = threading.Thread(target=_claude, args=(gw, sandbox, scripted, goal))
        client.start()
        token = {"x-llmos-admin-token": gw.info()["admin_token"]}
        assert httpx2.get(gw.url + "/llmos/approvals").status_code == 401  # the token is needed
        question = _wait_for_question(gw.url, token)
        assert question["tool"] == "Bash" and question["rule"] == "policy-ask"
        answer = {"decision": "modify", "input": {"command": "echo approved >> hello.txt"}}
        answered = httpx2.post(
            f"{gw.url}/llmos/approvals/{question['id']}", json=answer, headers=token
        )
        assert answered.status_code == 200, answered.text
        client.join(60)
        assert (gw.work / "hello.txt").read_text() == "hello\napproved\n"
    finally:
        gw.stop()
        gw.kill()
    conversation = gw.events("opened")[0]["conversation"]
    saved = run_llmos(sandbox, "gateway", "save", conversation[:6], "--json")
    assert saved.returncode == 0, saved.stderr
    info = json.loads(saved.stdout)
    assert info["goal"] == goal and info["steps"] == 2 and info["kind"] == "new"
    # `llmos run` replays it: no model, $0, the same files in the project's folder.
    asked = len(scripted.requests)
    replay = run_llmos(sandbox, "run", "--json", goal)
    assert replay.returncode == 0, replay.stderr
    summary = json.loads(replay.stdout)
    assert summary["mode"] == "follower" and summary["cost_usd"] == 0
    assert (sandbox.output / "hello.txt").read_text() == "hello\napproved\n"
    assert len(scripted.requests) == asked


def _wait_for_question(url: str, token: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = httpx2.get(url + "/llmos/approvals", headers=token).json()["approvals"]
        if pending:
            return dict(pending[0])
        time.sleep(0.05)
    raise AssertionError("no question came")


def test_terminal_approver(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    run_llmos(sandbox, "status")
    (sandbox.workspace / "policy.yaml").write_text(ASK_POLICY)
    gw = GatewayProcess(sandbox, scripted, "--approver", "terminal", json_lines=False)
    try:
        assert gw.proc.stdin is not None
        gw.proc.stdin.write("r\nuse the other file\n")  # reject, with a reason for the model
        gw.proc.stdin.flush()
        scripted.script(
            use_tool("Bash", command="echo needs-approval > asked.txt"),
            use_tool("Bash", command="echo other > other.txt"),
            say("ok"),
        )
        proc = _claude(gw, sandbox, scripted, "Stamp something")
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in gw.work.iterdir()) == ["other.txt"]
        (result,) = scripted.message_requests[1].tool_results()
        assert "use the other file" in result["content"]
    finally:
        gw.stop(signal.SIGINT)
        gw.kill()
    shown = "\n".join(gw.lines)
    assert "approval needed" in shown and "echo needs-approval > asked.txt" in shown
    assert "rejected" in shown and "closed" in shown


def test_a_killed_gateway_is_settled_by_the_next_command(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    gw = GatewayProcess(sandbox, scripted)
    try:
        scripted.script(say("hi"))
        reply = httpx2.post(
            gw.url + "/v1/messages",
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"x-api-key": "sk-client", "anthropic-version": "2023-06-01"},
        )
        assert reply.status_code == 200 and reply.json()["content"][0]["text"] == "hi"
        # The log's own thread wrote the call's cost (its cost_updated follows the call's event:
        # waiting for the call only, a kill could come between them).
        _logged(sandbox, "cost_updated")
    finally:
        gw.kill()  # SIGKILL: nothing recorded, the log not sealed
    status = run_llmos(sandbox, "status")
    assert (
        "cut off" in status.stderr and "charged $0.0010" in status.stderr
    )  # 100 in, 50 out at $3/$15
    (row,) = _ledger(sandbox)
    assert row["status"] == "crashed" and row["cost_usd"] == pytest.approx(0.00105)
    listed = json.loads(run_llmos(sandbox, "gateway", "sessions", "--json").stdout)
    assert listed["conversations"][0]["status"] == "closed"


def _logged(sandbox: Sandbox, kind: str) -> None:
    """Wait until a session log of the workspace has an event of `kind` (a subscriber
    thread writes the log, a moment after the reply went out)."""
    deadline = time.monotonic() + 15
    folder = sandbox.workspace / "memories" / "sessions"
    while time.monotonic() < deadline:
        for log in folder.glob("*.jsonl"):
            if any(e["kind"] == kind for e in read_session(log)):
                return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event in a session log")


def test_gateway_command_errors(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    def fails(*args: str) -> str:
        proc = run_llmos(sandbox, "gateway", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc.stderr

    assert "not an http(s) URL" in fails("--upstream", "ftp://example")
    assert "must present a gateway key" in fails("--host", "0.0.0.0")
    assert "--approver must be one of" in fails("--approver", "maybe")
    assert "does not exist" in fails("--workdir", str(sandbox.root / "nowhere"))
    assert "no project named" in fails("--project", "nope")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert "is in use" in fails("--port", str(taken.getsockname()[1]))
    (sandbox.workspace / "gateway.yaml").write_text("prot: 1\n")
    assert "unknown setting(s) prot" in fails()
    (sandbox.workspace / "gateway.yaml").unlink()
    assert "no gateway conversation 'zzz'" in fails(
        "save", "zzz"
    ) or "served no conversation" in fails("save", "zzz")
    assert "no gateway key named" in fails("keys", "rm", "ghost")
    helped = run_llmos(sandbox, "gateway", "--help")
    assert helped.returncode == 0
    for word in ("sessions", "save", "keys", "--upstream", "--approver"):
        assert word in helped.stdout
