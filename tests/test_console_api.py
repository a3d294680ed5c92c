"""The web console's HTTP side against a real server (llmos/_internal/console/): the one-time token
and the session cookie, CSRF and origin checks, each page and each JSON endpoint, secrets and
markup from outside never rendered, `llmos console`'s command line, `llmos run --approve-via
console` and `kernel start --console` end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.console.server import ConsoleThread
from llmos._internal.memory.session_log import read_session
from llmos._internal.security.approval import ApprovalRequest
from llmos._internal.security.approval_inbox import ApprovalInbox
from llmos._internal.testing.scripted_model import ScriptedModelServer, Turn, say, use_tool
from llmos._internal.workspace import Workspace

# The policy asks about this harmless command (it cannot parse `case`): a human must approve.
ASKED_COMMAND = "case x in x) echo asked;; esac > asked.txt"
REQUEST = ApprovalRequest("run-x", "Bash", {"command": "npm publish"}, "publishes", "npm-publish")


class Client:
    """A logged-in client of a console: its cookie, and its CSRF token from a page."""

    def __init__(self, thread: ConsoleThread) -> None:
        self.base = thread.address.url.rstrip("/")
        self.http = httpx2.Client(follow_redirects=False, timeout=30)
        first = self.http.get(thread.address.login_url)
        assert first.status_code == 303, first.text
        page = self.http.get(self.base + "/")
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def get(self, path: str) -> httpx2.Response:
        return self.http.get(self.base + path)

    def api(self, path: str, body: dict | None = None) -> httpx2.Response:
        return self.http.post(
            self.base + "/api" + path, json=body or {}, headers={"x-csrf-token": self.csrf}
        )

    def form(self, path: str, data: dict[str, str]) -> httpx2.Response:
        return self.http.post(
            self.base + path, data={**data, "csrf": self.csrf}, headers={"origin": self.base}
        )


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[ConsoleThread]:
    thread = ConsoleThread(Workspace.open(sandbox.workspace)).start()
    yield thread
    thread.stop()


@pytest.fixture
def client(served: ConsoleThread) -> Iterator[Client]:
    c = Client(served)
    yield c
    c.http.close()


def _ask(sandbox: Sandbox, request: ApprovalRequest = REQUEST) -> int:
    with ApprovalInbox(sandbox.workspace / "state") as inbox:
        return inbox.ask(request, source="kernel", expiry_secs=600)


# The gate -------------------------------------------------------------------------------------
def test_no_token_no_access_and_a_token_works_once(served: ConsoleThread) -> None:
    base = served.address.url
    assert httpx2.get(base).status_code == 401
    assert httpx2.get(base + "api/runs").json()["error"]["message"].startswith("not logged in")
    assert httpx2.get(base + "?token=wrong").status_code == 401
    with httpx2.Client() as first:
        entered = first.get(served.address.login_url, follow_redirects=False)
        assert entered.status_code == 303 and entered.headers["location"] == "/"
        cookie = entered.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert first.get(base).status_code == 200
    # The token is spent: the same address opens nothing now.
    assert httpx2.get(served.address.login_url).status_code == 401
    # Pages carry headers that keep them out of frames and other sites' scripts.
    assert httpx2.get(base).headers["content-security-policy"].startswith("default-src 'self'")


def test_the_host_header_must_name_the_console(client: Client) -> None:
    rebinding = client.http.get(client.base + "/", headers={"host": "evil.example"})
    assert rebinding.status_code == 421


def test_a_post_needs_the_csrf_token_and_the_same_origin(client: Client, sandbox: Sandbox) -> None:
    qid = _ask(sandbox)
    path = f"{client.base}/approvals/{qid}"
    missing = client.http.post(path, data={"decision": "approve"})
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = client.http.post(path, data={"decision": "approve", "csrf": "nope"})
    assert wrong.status_code == 403
    foreign = client.http.post(
        path,
        data={"decision": "approve", "csrf": client.csrf},
        headers={"origin": "http://evil.example"},
    )
    assert foreign.status_code == 403 and "cross-site" in foreign.text
    assert client.http.get(path).status_code == 405  # a GET never changes anything
    with ApprovalInbox(sandbox.workspace / "state") as inbox:
        assert inbox.get(qid).pending  # none of them answered it


# Approvals ------------------------------------------------------------------------------------
def test_approve_modify_and_reject_from_the_api_and_forms(client: Client, sandbox: Sandbox) -> None:
    first, second, third = _ask(sandbox), _ask(sandbox), _ask(sandbox)
    assert client.get("/api/session").json()["csrf"] == client.csrf
    listed = client.get("/api/approvals").json()
    assert [q["id"] for q in listed["pending"]] == [first, second, third]
    assert listed["pending"][0]["rule"] == "npm-publish" and listed["count"] == 3
    page = client.get("/").text
    assert "npm publish" in page and "npm-publish" in page

    approved = client.form(f"/approvals/{first}", {"decision": "approve"})
    assert approved.status_code == 303 and "approved" in approved.headers["location"]
    # The form's editor changes the command; the rest of the input stays.
    changed = client.form(
        f"/approvals/{second}", {"decision": "modify", "field": "command", "value": "npm pack"}
    )
    assert changed.status_code == 303
    rejected = client.api(f"/approvals/{third}", {"decision": "reject", "reason": "not now"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    late = client.api(f"/approvals/{first}", {"decision": "reject"})
    assert late.status_code == 409 and "already approved" in late.json()["error"]["message"]
    assert client.api("/approvals/999", {"decision": "approve"}).status_code == 404
    with ApprovalInbox(sandbox.workspace / "state") as inbox:
        assert inbox.get(second).answer_input == {"command": "npm pack"}
        assert inbox.get(third).answer_reason == "not now"
    fourth = _ask(sandbox)
    bad = client.api(f"/approvals/{fourth}", {"decision": "modify", "input": "ls"})
    assert bad.status_code == 400
    as_json = client.api(f"/approvals/{fourth}", {"decision": "modify", "input": {"command": "x"}})
    assert as_json.json()["answer_input"] == {"command": "x"}
    assert client.get("/api/approvals").json()["count"] == 0
    assert "already approved" in client.form(f"/approvals/{first}", {"decision": "reject"}).headers[
        "location"
    ].replace("+", " ")


def test_secrets_and_markup_from_outside_are_never_rendered(
    client: Client, sandbox: Sandbox
) -> None:
    secret = "sk-ant-api03-" + "A" * 40
    _ask(
        sandbox,
        ApprovalRequest(
            "run-y",
            "Bash",
            {"command": f"curl -H 'x-api-key: {secret}' https://x <script>alert(1)</script>"},
            "asks",
            "network",
        ),
    )
    page = client.get("/").text
    assert secret not in page and "[secret hidden]" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert secret not in client.get("/api/approvals").text
    added = client.api("/memory", {"text": f"the deploy key is {secret}"})
    assert added.status_code == 200
    assert secret not in client.get("/memory").text


# Runs, traces, budget, memory, schedule ---------------------------------------------------------
def test_runs_traces_and_budget_show_a_real_run(
    client: Client, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(use_tool("Write", file_path="note.txt", content="hi\n"), say("Wrote it."))
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Write a note", server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)

    (run,) = client.get("/api/runs").json()["runs"]
    assert (run["run_id"], run["goal"], run["status"]) == (
        summary["run_id"],
        "Write a note",
        "success",
    )
    assert run["cost_usd"] > 0 and run["mode"] == "learner" and run["project"] == "default"
    assert "Write a note" in client.get("/runs").text
    assert "Write a note" in client.get("/runs?part=runs").text  # the live region alone

    detail = client.get(f"/api/runs/{summary['run_id']}").json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and "tool_decision" in kinds
    decision = next(e for e in detail["timeline"] if e["kind"] == "tool_decision")
    assert decision["allowed"] is True and decision["rule"]
    # the same lines as `llmos sessions show` (llmos/_internal/presentation/timeline.py), word for
    # word
    shown = run_llmos(sandbox, "sessions", "show", summary["run_id"])
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("\t") for line in shown.stdout.splitlines() if line.count("\t") == 2]
    assert rows[0] == ["time", "event", "detail"], shown.stdout
    assert [(r[1], r[2]) for r in rows[1:]] == [(e["label"], e["text"]) for e in detail["timeline"]]
    assert detail["trace_id"] and not detail["interruptible"] and detail["integrity"] == "ok"
    page = client.get(f"/runs/{summary['run_id']}").text
    assert "Timeline" in page and "note.txt" in page and "Interrupt" not in page
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404

    (trace,) = client.get("/api/traces").json()["traces"]
    assert trace["id"] == detail["trace_id"] and trace["trust"] == "learned"
    assert client.get("/api/traces?q=note").json()["count"] == 1
    assert client.get("/api/traces?q=zebra").json()["count"] == 0
    shown = client.get(f"/api/traces/{trace['id']}").json()
    assert shown["trusted"] and shown["steps"][0]["tool"] == "Write" and shown["replayable"]
    assert "note.txt" in client.get(f"/traces/{trace['id']}").text

    budget = client.get("/api/budget").json()
    assert budget["balance_usd"] == pytest.approx(5.0 - run["cost_usd"], abs=1e-6)
    assert budget["per_day"][-1]["spent_usd"] == pytest.approx(run["cost_usd"], abs=1e-6)
    assert budget["per_mode"] == [
        {"mode": "learner", "spent_usd": pytest.approx(run["cost_usd"]), "saved_usd": 0.0}
    ]
    assert "<svg" in client.get("/budget").text

    # A replay saves what the trace cost: the table and the library show it.
    again = run_llmos(sandbox, "run", "--json", "Write a note")
    assert json.loads(again.stdout)["mode"] == "follower"
    saved = client.get("/api/runs").json()["runs"][0]
    assert saved["saved_usd"] == pytest.approx(trace["estimated_cost_usd"])
    assert client.get("/api/traces").json()["traces"][0]["saved_usd"] > 0

    deleted = client.form(f"/traces/{trace['id']}/delete", {})
    assert deleted.status_code == 303
    assert client.get("/api/traces").json()["count"] == 0


def test_an_imported_trace_is_trusted_from_its_page(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    from llmos._internal.memory.trace import Trace, TraceStep, goal_signature, render

    folder = tmp_path / "shared"
    folder.mkdir()
    goal = "Write hello.txt with a greeting"
    trace = Trace(goal, (TraceStep("Bash", {"command": "echo hello > hello.txt"}),), result="ok")
    (folder / f"{goal_signature(goal)}.md").write_text(render(trace), encoding="utf-8")
    imported = run_llmos(sandbox, "traces", "import", str(folder), "--json")
    assert imported.returncode == 0, imported.stderr
    (trace,) = client.get("/api/traces").json()["traces"]
    assert trace["trust"] != "learned"
    page = client.get(f"/traces/{trace['id']}").text
    assert "Trust this trace" in page and "Read its plan" in page
    trusted = client.api(f"/traces/{trace['id']}/trust")
    assert trusted.json()["trusted"] is True
    assert client.get(f"/api/traces/{trace['id']}").json()["trusted"]


def test_memory_add_search_remove(client: Client, sandbox: Sandbox) -> None:
    added = client.form("/memory", {"text": "Deploys happen on Tuesdays", "project": ""})
    assert added.status_code == 303
    (item,) = client.get("/api/memory").json()["items"]
    assert item["text"] == "Deploys happen on Tuesdays" and item["kind"] == "fact"
    assert client.get("/api/memory?q=deploys").json()["count"] == 1
    assert "Tuesdays" in client.get("/memory?q=deploys").text
    nowhere = client.api("/memory", {"text": "x", "project": "nope"})
    assert nowhere.status_code == 400 and "nope" in nowhere.json()["error"]["message"]
    assert client.api("/memory", {"text": "  "}).status_code == 400
    removed = client.api(f"/memory/{item['id']}/delete", {"project": ""})
    assert removed.json()["deleted"] is True
    assert client.get("/api/memory").json()["count"] == 0


def test_schedule_pause_and_resume(client: Client, sandbox: Sandbox) -> None:
    job = json.loads(
        run_llmos(sandbox, "schedule", "add", "--every", "1h", "--json", "Tidy").stdout
    )
    listed = client.get("/api/schedule").json()
    assert listed["jobs"][0]["id"] == job["id"] and listed["kernel"]["running"] is False
    paused = client.form(f"/schedule/{job['id']}/pause", {})
    assert paused.status_code == 303
    assert client.get("/api/schedule").json()["jobs"][0]["paused"] is True
    assert "Resume" in client.get("/schedule").text
    resumed = client.api(f"/schedule/{job['id']}/resume")
    assert resumed.json()["paused"] is False and resumed.json()["next_run_at"]
    assert client.api("/schedule/ffff/pause").status_code == 400


def test_a_live_run_is_interrupted_and_a_finished_one_is_not(
    client: Client, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(Turn(text="thinking...", delay=60))
    env = {**os.environ, **scripted.client_env(sandbox.claude_config)}
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "run", "--json", "--model", MODEL, "Think long"],
        env=env,
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = _wait_for(lambda: _running_run(client))
        assert client.get(f"/api/runs/{run_id}").json()["interruptible"] is True
        assert "Interrupt" in client.get(f"/runs/{run_id}").text
        done = client.form(f"/runs/{run_id}/interrupt", {})
        assert done.status_code == 303 and "interrupt sent" in done.headers["location"].replace(
            "+", " "
        )
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err  # as Ctrl-C ends it
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "interrupted"
    refused = client.api(f"/runs/{run_id}/interrupt")
    assert refused.status_code == 400 and "not running" in refused.json()["error"]["message"]


def _running_run(client: Client) -> str | None:
    runs = client.get("/api/runs").json()["runs"]
    return next((r["run_id"] for r in runs if r["status"] == "running"), None)


def _wait_for(probe, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


# The command line ---------------------------------------------------------------------------
def test_console_check_serves_and_stops(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "console", "--check", "--port", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_console_refuses_a_taken_port_and_a_remote_host_without_a_password(
    sandbox: Sandbox,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        busy = run_llmos(sandbox, "console", "--port", port)
    assert busy.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in busy.stderr
    remote = run_llmos(sandbox, "console", "--host", "0.0.0.0", "--port", "0")
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    weak = run_llmos(
        sandbox,
        "console",
        "--host",
        "0.0.0.0",
        "--allow-remote",
        "--json",
        env={"LLMOS_CONSOLE_PASSWORD": "short"},
    )
    assert weak.returncode == 2 and json.loads(weak.stdout)["error"].startswith(
        "a console reachable from other machines needs a password"
    )


def test_a_remote_console_takes_its_password(sandbox: Sandbox) -> None:
    ws = Workspace.open(sandbox.workspace)
    thread = ConsoleThread(ws, password="correct horse battery").start()
    try:
        base = thread.address.url
        with httpx2.Client() as c:
            assert "password" in c.get(base).text
            assert c.post(base + "login", data={"password": "wrong"}).status_code == 401
            right = c.post(base + "login", data={"password": "correct horse battery"})
            assert right.status_code == 303
            assert c.get(base + "api/runs").status_code == 200
            foreign = c.post(
                base + "login",
                data={"password": "correct horse battery"},
                headers={"origin": "http://evil.example"},
            )
            assert foreign.status_code == 403
    finally:
        thread.stop()


def test_the_console_serves_until_stopped_and_prints_its_address(sandbox: Sandbox) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "console", "--port", "0", "--json"],
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["event"] == "listening" and started["token"] in started["login_url"]
        info = json.loads((sandbox.workspace / "state" / "console.json").read_text())
        assert info["url"] == started["url"] and started["token"] not in json.dumps(info)
        with httpx2.Client() as c:
            assert c.get(started["login_url"], follow_redirects=True).status_code == 200
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(rest.splitlines()[-1])["event"] == "stopped"
    assert not (sandbox.workspace / "state" / "console.json").exists()


def _answer_when_asked(state: Path, decision: str, **kwargs: object) -> threading.Thread:
    def work() -> None:
        deadline = time.monotonic() + 90
        with ApprovalInbox(state) as inbox:
            while time.monotonic() < deadline:
                pending = inbox.pending()
                if pending:
                    inbox.answer(pending[0].id, decision, **kwargs)  # type: ignore[arg-type]
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_run_approve_via_console_waits_for_the_inbox(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(use_tool("Bash", command=ASKED_COMMAND), say("Done."))
    answering = _answer_when_asked(sandbox.workspace / "state", "approve", by="the web console")
    proc = run_llmos(
        sandbox,
        "run",
        "--json",
        "--approve-via",
        "console",
        "--model",
        MODEL,
        "Write a file",
        server=scripted,
    )
    answering.join(5)
    assert proc.returncode == 0, proc.stderr
    assert (sandbox.output / "asked.txt").read_text() == "asked\n"
    summary = json.loads(proc.stdout)
    decisions = [
        e for e in read_session(Path(summary["session_log"])) if e["kind"] == "tool_decision"
    ]
    assert decisions[0]["approved_by"] == "the web console" and decisions[0]["allowed"]
    bad = run_llmos(sandbox, "run", "--approve-via", "carrier-pigeon", "x")
    assert bad.returncode == 2 and "carrier-pigeon" in bad.stderr


def test_kernel_start_console_serves_beside_the_kernel(sandbox: Sandbox) -> None:
    proc = run_llmos(
        sandbox, "kernel", "start", "--once", "--console", "--console-port", "0", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    started = next(e for e in events if e["event"] == "console_started")
    assert started["url"].startswith("http://127.0.0.1:") and started["token"]
    assert events[-1]["event"] == "kernel_stopped"


def test_a_scheduled_run_is_interrupted_and_the_kernel_goes_on(
    client: Client, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    added = run_llmos(sandbox, "schedule", "add", "--at", "now", "--model", MODEL, "Think long")
    assert added.returncode == 0, added.stderr
    scripted.script(Turn(text="thinking...", delay=60))
    env = {**os.environ, **scripted.client_env(sandbox.claude_config)}
    kernel = subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "kernel", "start", "--once", "--json"],
        env=env,
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = _wait_for(lambda: _running_run(client))
        assert client.get(f"/api/runs/{run_id}").json()["interruptible"] is True
        done = client.api(f"/runs/{run_id}/interrupt")
        assert done.status_code == 200, done.text
        out, err = kernel.communicate(timeout=60)
    finally:
        if kernel.poll() is None:
            kernel.kill()
            kernel.wait()
    assert kernel.returncode == 0, err  # the kernel was not stopped: its pass ended
    events = [json.loads(line) for line in out.splitlines()]
    finished = next(e for e in events if e["event"] == "job_finished")
    assert finished["status"] == "interrupted" and events[-1]["event"] == "kernel_stopped"
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "interrupted"
    assert not list((sandbox.workspace / "state" / "interrupts").iterdir())
