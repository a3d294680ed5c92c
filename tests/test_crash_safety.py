"""Every ending is an ending: llmos killed (SIGKILL), terminated (SIGTERM, SIGHUP, `timeout`)
in the middle of a Learner run leaves no process behind, makes no further model request,
and the run reaches the books: at once for a signal it can handle, by the next command for
SIGKILL. End to end: the real `llmos` command, SDK and CLI against the scripted server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.memory.session_log import read_session, verify_session
from llmos._internal.testing.scripted_model import ScriptedModelServer, ToolCall, Turn, say

# A duration no other process on the machine sleeps for: how the test finds its Bash tool.
_SLEEP = "317"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """llmos processes a test starts: killed, if still running, when it ends."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start_llmos(sandbox: Sandbox, server: ScriptedModelServer, *args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(server.client_env(sandbox.claude_config))
    env["COLUMNS"] = "200"
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", *args],
        env=env,
        cwd=sandbox.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """pid -> (parent pid, state, command line), zombies included (state Z)."""
    found = {}
    for entry in Path("/proc").iterdir():
        name = entry.name
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        found[int(name)] = (int(fields[1]), fields[0].decode(), cmdline)
    return found


def _descendants(root: int) -> list[int]:
    table = _processes()
    found, pending = [], [root]
    while pending:
        parent = pending.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == parent:
                found.append(pid)
                pending.append(pid)
    return found


def _alive(pids: list[int]) -> list[int]:
    table = _processes()
    return [pid for pid in pids if pid in table and table[pid][1] != "Z"]


def _wait_for_tool(proc: subprocess.Popen, timeout: float = 60) -> list[int]:
    """Wait until the run's Bash tool (`sleep 317`) runs below llmos; its process tree then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = _descendants(proc.pid)
        if set(tree) & set(_sleepers()):
            return tree
        if proc.poll() is not None:
            pytest.fail(f"llmos ended early: {proc.communicate()}")
        time.sleep(0.1)
    pytest.fail("the Bash tool never started")


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs")]


def _script_long_tool(server: ScriptedModelServer) -> None:
    server.script(
        Turn(
            text="Waiting.",
            tool_calls=(ToolCall("Bash", {"command": f"sleep {_SLEEP}", "description": "Wait"}),),
            input_tokens=40_000,
            output_tokens=2_000,
        ),
    )
    server.respond(say("done"))


def _assert_everything_gone(tree: list[int], server: ScriptedModelServer, requests: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(tree) == [], [_processes().get(p) for p in _alive(tree)]
    time.sleep(1.5)  # a CLI left alive would ask the model again within this
    assert len(server.requests) == requests


def test_kill_9_mid_run_leaves_no_process_and_the_next_command_records_the_run(
    sandbox: Sandbox, scripted: ScriptedModelServer, started: list[subprocess.Popen]
) -> None:
    _script_long_tool(scripted)
    proc = _start_llmos(sandbox, scripted, "run", "--model", MODEL, "Wait for a while")
    started.append(proc)
    tree = _wait_for_tool(proc)
    requests = len(scripted.requests)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    _assert_everything_gone(tree, scripted, requests)
    assert _ledger(sandbox) == []  # llmos had no chance to write it

    status = run_llmos(sandbox, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert "was cut off" in status.stderr and "Traceback" not in status.stderr
    (row,) = _ledger(sandbox)
    assert row["status"] == "crashed" and row["goal"] == "Wait for a while"
    # 40k input + 2k output tokens at $3/$15 per Mtok, as the stream showed them.
    assert row["cost_usd"] == pytest.approx(0.15, rel=0.01)
    assert json.loads(status.stdout)["balance_usd"] == pytest.approx(5.0 - row["cost_usd"])
    log = sandbox.workspace / "memories" / "sessions" / f"{row['run_id']}.jsonl"
    assert verify_session(log).ok
    assert read_session(log)[-1]["status"] == "crashed"
    again = run_llmos(sandbox, "status")
    assert "cut off" not in again.stderr  # said once


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_sigterm_sighup_and_sigint_interrupt_the_run_and_record_it(
    sandbox: Sandbox,
    scripted: ScriptedModelServer,
    sig: signal.Signals,
    started: list[subprocess.Popen],
) -> None:
    _script_long_tool(scripted)
    proc = _start_llmos(sandbox, scripted, "run", "--json", "--model", MODEL, "Wait for a while")
    started.append(proc)
    tree = _wait_for_tool(proc)
    requests = len(scripted.requests)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    _assert_everything_gone(tree, scripted, requests)
    (row,) = _ledger(sandbox)
    assert row["status"] == "interrupted"
    summary = json.loads(out)  # --json still says how the run ended
    assert (summary["run_id"], summary["status"]) == (row["run_id"], "interrupted")
    assert summary["cost_usd"] == pytest.approx(row["cost_usd"])
    if sig == signal.SIGTERM:
        assert err.count("stopped by SIGTERM") == 1, err
    assert row["cost_usd"] == pytest.approx(0.15, rel=0.01)
    log = sandbox.workspace / "memories" / "sessions" / f"{row['run_id']}.jsonl"
    assert verify_session(log).ok  # sealed


def test_timeout_command_ends_llmos_cleanly(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _script_long_tool(scripted)
    env = dict(os.environ)
    env.update(scripted.client_env(sandbox.claude_config))
    started = time.monotonic()
    proc = subprocess.run(
        ["timeout", "6", sys.executable, "-P", "-m", "llmos", "run", "--model", MODEL, "Wait"],
        env=env,
        cwd=sandbox.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 124  # timeout's own code: it had to stop llmos
    assert time.monotonic() - started < 30
    assert "Traceback" not in proc.stderr
    (row,) = _ledger(sandbox)
    assert row["status"] == "interrupted"
    deadline = time.monotonic() + 10
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers() == []


def _sleepers() -> list[int]:
    """The Bash tools of these tests still running."""
    tool = b"sleep\x00" + _SLEEP.encode() + b"\x00"
    return [pid for pid, (_, state, cmd) in _processes().items() if cmd == tool and state != "Z"]


def test_kill_9_of_the_kernel_mid_job_keeps_the_run_id_and_the_run_is_recorded(
    sandbox: Sandbox, scripted: ScriptedModelServer, started: list[subprocess.Popen]
) -> None:
    _script_long_tool(scripted)
    added = run_llmos(sandbox, "schedule", "add", "--at", "now", "--model", MODEL, "Wait a bit")
    assert added.returncode == 0, added.stderr
    kernel = _start_llmos(sandbox, scripted, "kernel", "start", "--json")
    started.append(kernel)
    tree = _wait_for_tool(kernel)
    requests = len(scripted.requests)
    kernel.send_signal(signal.SIGKILL)
    kernel.wait(timeout=10)
    _assert_everything_gone(tree, scripted, requests)

    status = run_llmos(sandbox, "kernel", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert "was cut off" in status.stderr  # the next command recorded the run
    (run,) = json.loads(status.stdout)["recent_runs"]
    assert run["run_id"]  # known from the start, though the kernel died
    (row,) = _ledger(sandbox)
    assert row["run_id"] == run["run_id"] and row["status"] == "crashed"

    once = run_llmos(sandbox, "kernel", "start", "--once", server=scripted)
    assert once.returncode == 0, once.stderr
    (run,) = json.loads(run_llmos(sandbox, "kernel", "status", "--json").stdout)["recent_runs"]
    assert run["status"] == "abandoned" and run["cost_usd"] == pytest.approx(row["cost_usd"])


# Full and read-only disks --------------------------------------------------------------------
@pytest.fixture
def small_disk(sandbox: Sandbox) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted for the test (root only: skipped where it cannot be mounted)."""
    mount_point = sandbox.root / "disk"
    mount_point.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_run_that_fills_the_disk_reports_it_and_loses_no_charge(
    sandbox: Sandbox, scripted: ScriptedModelServer, small_disk: Path
) -> None:
    workspace = small_disk / "ws"
    env = {"LLMOS_HOME": str(workspace)}
    assert run_llmos(sandbox, "status", env=env).returncode == 0
    scripted.script(
        Turn(
            tool_calls=(
                ToolCall(
                    "Bash",
                    {"command": "head -c 50M /dev/zero > fill.bin; true", "description": "Fill"},
                ),
            ),
            input_tokens=40_000,
            output_tokens=2_000,
        ),
        say("The disk is full."),
    )
    proc = run_llmos(sandbox, "run", "--model", MODEL, "Fill the disk", server=scripted, env=env)
    assert proc.returncode != 0
    assert "disk is full" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    output = workspace / "projects" / "default" / "output"
    (output / "fill.bin").unlink()  # space again

    budget = run_llmos(sandbox, "budget", "--json", env=env)
    assert budget.returncode == 0, budget.stderr
    with sqlite3.connect(workspace / "state" / "llmos.db") as db:
        (cost,) = db.execute("SELECT cost_usd FROM runs").fetchone()
    assert cost >= 0.15  # the first turn alone: 40k in, 2k out at $3/$15 per Mtok
    assert json.loads(budget.stdout)["balance_usd"] == pytest.approx(5.0 - cost)
    assert not list(workspace.rglob(".*.tmp"))  # nothing half-written left
    (log,) = (workspace / "memories" / "sessions").glob("*.jsonl")
    assert verify_session(log).ok  # its end, lost to the full disk, was written since
    assert read_session(log)[-1]["cost_usd"] == pytest.approx(cost)


def test_a_read_only_workspace_still_answers_what_only_reads(
    sandbox: Sandbox, small_disk: Path
) -> None:
    workspace = small_disk / "ws"
    env = {"LLMOS_HOME": str(workspace)}
    for args in (("memory", "add", "The sky is blue"), ("schedule", "add", "--every", "1h", "x")):
        assert run_llmos(sandbox, *args, env=env).returncode == 0
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, check=False
    )
    assert remount.returncode == 0, remount.stderr
    for args in (
        ("status",),
        ("budget",),
        ("traces", "list"),
        ("memory", "list"),
        ("schedule", "list"),
        ("sessions", "list"),
        ("policy", "show"),
        ("policy", "audit"),
        ("kernel", "status"),
    ):
        proc = run_llmos(sandbox, *args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert "The sky is blue" in run_llmos(sandbox, "memory", "list", env=env).stdout
    for args in (("memory", "add", "more"), ("run", "do something"), ("budget", "add", "1")):
        proc = run_llmos(sandbox, *args, env=env)
        assert proc.returncode == 6, (args, proc.stderr)
        assert "read-only" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_ends_the_interactive_repl(sandbox: Sandbox) -> None:
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the REPL on a terminal of its own
        os.execv(sys.executable, [sys.executable, "-P", "-m", "llmos", "interactive"])
    out = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and b"default>" not in out:
            if select.select([fd], [], [], 0.5)[0]:
                out += os.read(fd, 4096)
        assert b"default>" in out, out
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            while select.select([fd], [], [], 0.5)[0]:
                out += os.read(fd, 4096)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGTERM
    assert b"stopped by SIGTERM" in out and b"Traceback" not in out
