"""`llmos schedule` and `llmos kernel` end to end: the real command line, and scheduled goals
run by the kernel through the dispatcher, the real SDK and CLI, against the scripted model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from conftest import MODEL, Sandbox, run_llmos
from test_learner_e2e import _cli_processes_using

from llmos._internal.testing.scripted_model import ScriptedModelServer, Turn, say, use_tool


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs")]


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_schedule_commands_manage_jobs_that_persist(sandbox: Sandbox) -> None:
    assert run_llmos(sandbox, "project", "create", "web").returncode == 0
    cron = _json(
        run_llmos(
            sandbox, "schedule", "add", "--cron", "0 9 * * 1-5", "-p", "web", "--json", "Report"
        )
    )
    every = _json(
        run_llmos(sandbox, "schedule", "add", "--every", "2h", "--budget", "0.25", "--json", "Tidy")
    )
    once = _json(run_llmos(sandbox, "schedule", "add", "--at", "2099-01-01T09:00", "--json", "Y"))
    assert cron["schedule"].startswith("cron 0 9 * * 1-5") and cron["project"] == "web"
    assert every["schedule"] == "every 2h" and every["budget_usd"] == 0.25
    assert once["schedule"].startswith("at 2099-01-01 09:00")

    # Each command is a new process: the jobs come back from the workspace.
    listed = _json(run_llmos(sandbox, "schedule", "list", "--json"))["jobs"]
    assert {job["id"] for job in listed} == {cron["id"], every["id"], once["id"]}
    assert _json(run_llmos(sandbox, "schedule", "pause", every["id"][:6], "--json"))["paused"]
    resumed = _json(run_llmos(sandbox, "schedule", "resume", every["id"], "--json"))
    assert not resumed["paused"] and resumed["next_run_at"] == every["next_run_at"]
    unconfirmed = run_llmos(sandbox, "schedule", "rm", once["id"])  # no terminal, no --yes
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    removed = _json(run_llmos(sandbox, "schedule", "rm", once["id"], "--yes", "--json"))
    assert removed["id"] == once["id"] and removed["deleted"] is True
    human = run_llmos(sandbox, "schedule", "list")
    assert cron["id"] in human.stdout and once["id"] not in human.stdout
    status = _json(run_llmos(sandbox, "kernel", "status", "--json"))
    assert status["running"] is False and len(status["jobs"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["schedule", "add", "goal"], "exactly one of --cron, --every or --at"),
        (["schedule", "add", "--every", "1h", "--at", "now", "goal"], "exactly one of"),
        (["schedule", "add", "--cron", "0 25 * * *", "goal"], "bad cron expression"),
        (["schedule", "add", "--every", "5s", "goal"], "shorter than a minute"),
        (["schedule", "add", "--at", "2001-01-01T00:00", "goal"], "in the past"),
        (["schedule", "add", "--at", "now", "--mode", "turbo", "goal"], "unknown mode"),
        (["schedule", "add", "--at", "now", "-p", "../x", "goal"], "invalid project name"),
        (["schedule", "add", "--at", "now", "-p", "nosuch", "goal"], "no project named 'nosuch'"),
        (["schedule", "add", "--at", "now", "  "], "goal is empty"),
        (["schedule", "rm", "abc123"], "no scheduled job"),
        (["schedule", "pause", "--", "-x"], "no scheduled job"),
    ],
)
def test_bad_schedule_input_gets_a_clear_error(
    sandbox: Sandbox, args: list[str], message: str
) -> None:
    proc = run_llmos(sandbox, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    _no_traceback(proc)


@pytest.mark.parametrize(
    "argv", [["kernel", "status"], ["schedule", "list"], ["sessions", "list"], ["kernel", "--help"]]
)
def test_kernel_commands_do_not_import_the_sdk(sandbox: Sandbox, argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['llmos', *{argv!r}]\n"
        "from llmos._internal.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(roots & {'claude_agent_sdk', 'anthropic'})\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_kernel_once_runs_a_due_goal_through_the_dispatcher(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    job = _json(
        run_llmos(
            sandbox, "schedule", "add", "--at", "now", "--model", MODEL, "--json", "Write a note"
        )
    )
    later = _json(run_llmos(sandbox, "schedule", "add", "--every", "1h", "--json", "Not yet"))
    scripted.script(use_tool("Write", file_path="note.txt", content="hi\n"), say("Wrote it."))
    proc = run_llmos(sandbox, "kernel", "start", "--once", "--json", server=scripted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scripted.assert_complete()
    events = _lines(proc.stdout)
    assert [e["event"] for e in events] == [
        "kernel_started",
        "job_started",
        "job_finished",
        "kernel_stopped",
    ]
    finished = events[2]
    assert finished["job_id"] == job["id"] and finished["status"] == "success"
    assert (sandbox.output / "note.txt").read_text() == "hi\n"  # the goal really ran
    (row,) = _ledger(sandbox)
    assert row["run_id"] == finished["run_id"] and row["status"] == "success"
    assert row["cost_usd"] == finished["cost_usd"] > 0

    status = _json(run_llmos(sandbox, "kernel", "status", "--json"))
    jobs = {j["id"]: j for j in status["jobs"]}
    assert jobs[job["id"]]["last_status"] == "success" and jobs[job["id"]]["next_run_at"] is None
    assert jobs[job["id"]]["last_run_id"] == finished["run_id"]
    assert jobs[later["id"]]["last_run_at"] is None
    assert status["recent_runs"][0]["run_id"] == finished["run_id"]
    human = run_llmos(sandbox, "kernel", "status").stdout
    assert "not running" in human and job["id"] in human and "success" in human

    # The scheduled run's session log is complete and sealed.
    verified = _json(run_llmos(sandbox, "sessions", "verify", "--json", finished["run_id"][:20]))
    assert verified["ok"] and verified["runs"][0]["run_id"] == finished["run_id"]


def test_a_scheduled_run_has_a_wall_clock_limit(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    # No terminal waits for a scheduled run: its limit stops a model that never answers.
    run_llmos(sandbox, "schedule", "add", "--at", "now", "--timeout", "1", "Hang")
    scripted.script(Turn(text="...", delay=60))
    proc = run_llmos(sandbox, "kernel", "start", "--once", "--json", server=scripted)
    assert proc.returncode == 0, proc.stderr
    (finished,) = [e for e in _lines(proc.stdout) if e["event"] == "job_finished"]
    assert finished["status"] == "timed_out" and "timeout of 1 s" in finished["error"]
    assert _cli_processes_using(sandbox.claude_config) == []


def _start_kernel(sandbox: Sandbox, server: ScriptedModelServer) -> subprocess.Popen[str]:
    env = {**os.environ, **server.client_env(sandbox.claude_config)}
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "kernel", "start", "--json"],
        env=env,
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _next_event(kernel: subprocess.Popen[str]) -> dict[str, Any]:
    assert kernel.stdout is not None
    line = kernel.stdout.readline()  # blocks until the kernel prints: no sleeping
    assert line, "the kernel exited early"
    return json.loads(line)


def test_one_kernel_per_workspace_and_sigterm_stops_it_cleanly(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    job = _json(run_llmos(sandbox, "schedule", "add", "--at", "now", "--json", "Think long"))
    scripted.script(Turn(text="...", delay=60))  # the model is still thinking when we stop
    kernel = _start_kernel(sandbox, scripted)
    try:
        started = _next_event(kernel)
        assert started["event"] == "kernel_started" and started["pid"] == kernel.pid
        assert _next_event(kernel)["event"] == "job_started"
        assert scripted.wait_for_requests(1, timeout=30)  # the agent's CLI is up and waiting

        second = run_llmos(sandbox, "kernel", "start")
        assert second.returncode == 1
        assert f"a kernel is already running on {sandbox.workspace} (pid {kernel.pid})" in (
            second.stderr
        )
        _no_traceback(second)
        status = _json(run_llmos(sandbox, "kernel", "status", "--json"))
        assert status["running"] and status["pid"] == kernel.pid
        assert status["current"]["job_id"] == job["id"]

        kernel.send_signal(signal.SIGTERM)
        out, err = kernel.communicate(timeout=60)
    finally:
        if kernel.poll() is None:
            kernel.kill()
            kernel.wait()
    assert kernel.returncode == 0, err
    assert "Traceback" not in err
    rest = _lines(out)
    assert [e["event"] for e in rest] == ["job_finished", "kernel_stopped"]
    assert rest[0]["status"] == "interrupted"
    (row,) = _ledger(sandbox)  # the interrupted run is in the ledger, charged what it spent
    assert row["status"] == "interrupted" and row["run_id"] == rest[0]["run_id"]
    assert _cli_processes_using(sandbox.claude_config) == []
    status = _json(run_llmos(sandbox, "kernel", "status", "--json"))
    assert status["running"] is False
    (run,) = status["recent_runs"]
    assert run["status"] == "interrupted" and run["run_id"] == row["run_id"]
