"""State that survives: concurrent first use, damaged and missing databases, journals and
`llmos doctor --repair`, workspaces that must not be used, what a killed writer leaves,
clean terminal output and exit codes. Through the real `llmos` command where a user would
meet it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_in_terminal, run_llmos

from llmos._internal.kernel.cost import CostMeter
from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.trace import Trace, TraceStep, render
from llmos._internal.testing.scripted_model import (
    ApiError,
    ScriptedModelServer,
    ToolCall,
    Turn,
    say,
    use_tool,
)
from llmos._internal.text import clean

_NO_TRACEBACK = "Traceback"


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    assert _NO_TRACEBACK not in proc.stderr
    return proc


def _state(sandbox: Sandbox) -> Path:
    return sandbox.workspace / "state"


def _seed(sandbox: Sandbox) -> None:
    """A workspace with a history: a top-up, a project budget, a scheduled job, an audit row."""
    _ok(run_llmos(sandbox, "budget", "add", "2.5"))
    _ok(run_llmos(sandbox, "project", "create", "site"))
    _ok(run_llmos(sandbox, "budget", "set", "--project", "site", "1.25"))
    _ok(run_llmos(sandbox, "schedule", "add", "--every", "2h", "tidy the notes"))
    _ok(run_llmos(sandbox, "traces", "import", str(_trace_file(sandbox))))


def _trace_file(sandbox: Sandbox) -> Path:
    path = sandbox.root / "hello.md"
    step = TraceStep("Bash", {"command": "echo hello"}, checks={"exit_code": 0})
    path.write_text(render(Trace(goal_text="say hello", steps=(step,))), encoding="utf-8")
    return path


def _summary(sandbox: Sandbox) -> dict:
    budget = json.loads(_ok(run_llmos(sandbox, "budget", "--json")).stdout)
    jobs = json.loads(_ok(run_llmos(sandbox, "schedule", "list", "--json")).stdout)
    audit = json.loads(_ok(run_llmos(sandbox, "policy", "audit", "--json")).stdout)
    return {"budget": budget, "jobs": jobs, "audit": audit}


# Concurrent first use ------------------------------------------------------------------------
def test_eight_commands_on_a_fresh_workspace_at_once_all_succeed(sandbox: Sandbox) -> None:
    commands = [
        ("status",),
        ("budget",),
        ("traces", "list"),
        ("memory", "list"),
        ("schedule", "list"),
        ("sessions", "list"),
        ("policy", "show"),
        ("memory", "add", "a fact"),
    ]
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda args: run_llmos(sandbox, *args), commands))
    for args, proc in zip(commands, results, strict=True):
        assert proc.returncode == 0, (args, proc.stderr)
    with sqlite3.connect(_state(sandbox) / "llmos.db") as db:
        (starts,) = db.execute(
            "SELECT count(*) FROM balance_log WHERE reason='initial balance'"
        ).fetchone()
    assert starts == 1


# Damaged and missing databases --------------------------------------------------------------
@pytest.mark.parametrize("name", ["llmos.db", "audit.db", "schedule.db"])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_primary_database_is_named_and_doctor_repair_rebuilds_it(
    sandbox: Sandbox, name: str, damage: str
) -> None:
    _seed(sandbox)
    before = _summary(sandbox)
    path = _state(sandbox) / name
    if damage == "truncate":
        with path.open("r+b") as handle:
            handle.truncate(path.stat().st_size // 3)
    else:
        path.write_bytes(os.urandom(9000))
    command = {
        "llmos.db": ("budget",),
        "audit.db": ("policy", "audit"),
        "schedule.db": ("schedule", "list"),
    }[name]
    proc = run_llmos(sandbox, *command)
    assert proc.returncode == 6 and _NO_TRACEBACK not in proc.stderr
    assert str(path) in proc.stderr and "llmos doctor --repair" in proc.stderr

    check = run_llmos(sandbox, "doctor", "--json")
    assert check.returncode == 1
    findings = {f["check"]: f for f in json.loads(check.stdout)["checks"]}
    assert any(f["status"] == "fail" and name in c for c, f in findings.items())

    _ok(run_llmos(sandbox, "doctor", "--repair"))
    assert _summary(sandbox) == before
    assert list(_state(sandbox).glob(f"{name}.damaged-*"))  # kept, not deleted
    _ok(run_llmos(sandbox, "doctor"))


def test_a_deleted_ledger_is_refused_not_started_afresh(sandbox: Sandbox) -> None:
    _seed(sandbox)
    before = _summary(sandbox)
    for path in _state(sandbox).glob("*.db"):
        path.unlink()
    for command in (
        ("status",),
        ("budget",),
        ("schedule", "list"),
        ("policy", "audit"),
        ("run", "say hello"),
    ):
        proc = run_llmos(sandbox, *command)
        assert proc.returncode == 6, (command, proc.stderr)
        assert "is missing" in proc.stderr and "llmos doctor --repair" in proc.stderr
        assert _NO_TRACEBACK not in proc.stderr
    _ok(run_llmos(sandbox, "doctor", "--repair"))
    assert _summary(sandbox) == before  # balance, spend history, audit trail and schedule


@pytest.mark.parametrize("name", ["index.db", "memory_index.db"])
def test_a_damaged_index_rebuilds_itself_and_reindex_works_on_it(
    sandbox: Sandbox, name: str
) -> None:
    _ok(run_llmos(sandbox, "memory", "add", "The build uses make"))
    _ok(run_llmos(sandbox, "traces", "import", str(_trace_file(sandbox))))
    path = _state(sandbox) / name
    listing = ("traces", "list") if name == "index.db" else ("memory", "list")
    reindex = ("traces", "reindex") if name == "index.db" else ("memory", "reindex")
    expected = "say hello" if name == "index.db" else "The build uses make"
    path.write_bytes(b"garbage" * 1000)
    proc = _ok(run_llmos(sandbox, *listing))
    assert expected in proc.stdout and "moved aside" in proc.stderr
    path.write_bytes(b"garbage" * 1000)
    assert "indexed 1" in _ok(run_llmos(sandbox, *reindex)).stdout
    assert expected in _ok(run_llmos(sandbox, *listing)).stdout


def test_a_commit_that_never_happened_is_applied_from_the_journal(sandbox: Sandbox) -> None:
    """What a full disk (or a kill) between the journal's line and the commit leaves."""
    _ok(run_llmos(sandbox, "status"))
    journal = _state(sandbox) / "journal" / "ledger.jsonl"
    with journal.open("a", encoding="utf-8") as handle:  # the line, without its commit
        row = {"key": "balance_usd", "value": "42.0"}
        handle.write(
            json.dumps(
                {
                    "at": time.time(),
                    "changes": [
                        {"t": "meta", "op": "upsert", "row": row},
                    ],
                }
            )
            + "\n"
        )
    assert json.loads(_ok(run_llmos(sandbox, "budget", "--json")).stdout)["balance_usd"] == 42.0


# Workspaces that must not be used -----------------------------------------------------------
@pytest.mark.parametrize("where", ["/", "/etc", "/usr/lib", "/proc/self", "/sys", "/dev"])
def test_system_folders_are_refused_as_workspaces(sandbox: Sandbox, where: str) -> None:
    proc = run_llmos(sandbox, "status", "--workspace", where)
    assert proc.returncode == 2 and "system folder" in proc.stderr
    assert _NO_TRACEBACK not in proc.stderr


def test_a_file_or_a_foreign_folder_is_refused_and_init_accepts_the_folder(
    sandbox: Sandbox,
) -> None:
    a_file = sandbox.root / "notes.txt"
    a_file.write_text("mine\n")
    proc = run_llmos(sandbox, "status", env={"LLMOS_HOME": str(a_file)})
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert _NO_TRACEBACK not in proc.stderr
    folder = sandbox.root / "project"
    folder.mkdir()
    (folder / "main.c").write_text("int main(void) { return 0; }\n")
    proc = run_llmos(sandbox, "status", "--workspace", str(folder))
    assert proc.returncode == 2 and "not an llmos workspace" in proc.stderr
    assert "llmos init" in proc.stderr and not (folder / "config.yaml").exists()
    _ok(run_llmos(sandbox, "init", str(folder)))
    _ok(run_llmos(sandbox, "status", "--workspace", str(folder)))
    assert (folder / "main.c").read_text() == "int main(void) { return 0; }\n"


# What killed writers leave -------------------------------------------------------------------
def test_a_killed_writer_leaves_no_temporary_file_after_the_next_command(
    sandbox: Sandbox,
) -> None:
    _ok(run_llmos(sandbox, "status"))
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from llmos._internal import recovery, fsutil\n"
        "recovery.activate(Path(sys.argv[1]))\n"
        "fsutil.os.replace = lambda *a: os.kill(os.getpid(), 9)  # killed before the rename\n"
        "fsutil.atomic_write_text(Path(sys.argv[2]), 'x' * 50_000_000)\n"
    )
    target = sandbox.workspace / "memories" / "facts" / "big.md"
    subprocess.run(
        [sys.executable, "-c", code, str(_state(sandbox)), str(target)], check=False, timeout=60
    )
    left = list(target.parent.glob(".big.md.*.tmp"))
    assert left and left[0].stat().st_size == 50_000_000
    _ok(run_llmos(sandbox, "status"))
    assert not list(target.parent.glob(".*.tmp")) and not target.exists()


# Clean output -------------------------------------------------------------------------------
_EVIL = "Say hi \x1b[2J\x1b]0;pwned\x07\x1b[31mRED\x1b[0m \u202eevil\x07 done"


def test_escape_sequences_in_goals_never_reach_the_terminal(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(use_tool("Bash", command="echo hi"), say("Said hi \x1b[5mblink\x1b[0m."))
    run = run_llmos(sandbox, "run", "--model", MODEL, _EVIL, server=scripted)
    assert run.returncode == 0, run.stderr
    outputs = [run]
    for command in (("traces", "list"), ("sessions", "list"), ("insights",), ("status",)):
        outputs.append(_ok(run_llmos(sandbox, *command)))
    (trace,) = json.loads(_ok(run_llmos(sandbox, "traces", "list", "--json")).stdout)["traces"]
    for proc in outputs:
        for part in ("\x1b", "\x07", "\u202e"):
            assert part not in proc.stdout + proc.stderr, proc.args
    assert "RED" in outputs[1].stdout  # the text itself is kept
    # On a terminal (TERM=dumb: rich adds no colours of its own) the trace is cleaned too...
    status, shown = run_in_terminal(
        sandbox, "traces", "show", trace["id"][:8], env={"TERM": "dumb"}
    )
    assert status == 0 and "RED" in shown
    for part in ("\x1b", "\x07", "\u202e"):
        assert part not in shown
    # ...while piped it is the file itself, byte for byte (as `cat` would give it).
    raw = subprocess.run(
        [sys.executable, "-P", "-m", "llmos", "traces", "show", trace["id"]],
        capture_output=True,
        check=True,
        cwd=sandbox.root,
    )
    assert raw.stdout == Path(trace["path"]).read_bytes()


def test_clean_removes_escape_sequences_and_controls() -> None:
    assert clean("a\x1b[31mb\x1b[0mc") == "abc"
    assert clean("x\x1b]0;title\x07y") == "xy"
    assert clean("x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\y") == "xlinky"
    assert clean("tab\tnew\nline\r\n") == "tab\tnew\nline\n"
    assert clean("a\tb\nc", keep_newlines=False) == "a b c"
    assert clean("\u202egnp.exe\u202c ok \x9b31m") == "gnp.exe ok "
    assert clean("naïve — ünïcode ✓") == "naïve — ünïcode ✓"


def test_a_session_log_that_is_not_utf8_is_listed_not_crashed_on(sandbox: Sandbox) -> None:
    _ok(run_llmos(sandbox, "status"))
    log = sandbox.workspace / "memories" / "sessions" / "20260101-000000-abcdef.jsonl"
    log.write_bytes(b'{"seq": 1, "kind": "run_started", "goal": "caf\xe9 \xff"}\n')
    proc = _ok(run_llmos(sandbox, "sessions", "list"))
    assert "20260101-000000-abcdef" in proc.stdout
    assert read_session(log)[0]["goal"].startswith("caf")


# Exit codes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--budget", "--timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_bad_numbers_are_usage_errors(sandbox: Sandbox, option: str, value: str) -> None:
    proc = run_llmos(sandbox, "run", option, value, "do something")
    assert proc.returncode == 2, proc.stderr
    assert _NO_TRACEBACK not in proc.stderr


def test_a_refused_key_exits_3_and_names_the_variable(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.respond(ApiError(401, "authentication_error", "invalid x-api-key"))
    proc = run_llmos(sandbox, "run", "--model", MODEL, "say hi", server=scripted)
    assert proc.returncode == 3, proc.stderr
    assert "refused the credentials" in proc.stderr and "ANTHROPIC_API_KEY" in proc.stderr


def test_a_base_url_without_a_key_exits_3_and_says_which_variable_to_set(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.respond(ApiError(401, "authentication_error", "no key"))
    env = scripted.client_env(sandbox.claude_config)
    env.pop("ANTHROPIC_API_KEY")
    proc = run_llmos(
        sandbox, "run", "--model", MODEL, "say hi", env={**env, "ANTHROPIC_API_KEY": ""}
    )
    assert proc.returncode == 3, proc.stderr
    assert "ANTHROPIC_API_KEY" in proc.stderr and scripted.base_url in proc.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://no-such-host.invalid:9"])
def test_an_endpoint_nobody_answers_at_exits_3_naming_it(sandbox: Sandbox, url: str) -> None:
    env = {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-test"}
    proc = run_llmos(sandbox, "run", "--model", MODEL, "say hi", env=env)
    assert proc.returncode == 3, proc.stderr
    assert "ANTHROPIC_BASE_URL" in proc.stderr and url.split("//")[1] in proc.stderr


# Honest charges ------------------------------------------------------------------------------
def test_the_live_estimate_counts_output_and_cache_tokens() -> None:
    meter = CostMeter()
    start = {"input_tokens": 1000, "output_tokens": 1, "cache_read_input_tokens": 10_000}
    meter.observe("msg_1", "claude-sonnet-4-5", start)
    meter.observe("msg_1", "claude-sonnet-4-5", {"output_tokens": 500})  # message_delta
    meter.observe("msg_1", None, {"input_tokens": 1000, "output_tokens": 3})  # a stale copy
    assert meter.output_tokens == 500
    assert meter.spent_usd == pytest.approx((1000 * 3 + 500 * 15 + 10_000 * 0.3) / 1e6)


def test_the_live_estimate_matches_what_the_cli_charges(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    scripted.script(
        Turn(
            tool_calls=(ToolCall("Bash", {"command": "echo one"}),),
            input_tokens=3000,
            output_tokens=700,
        ),
        say("Done.", input_tokens=5000, output_tokens=1200),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "echo one", server=scripted)
    summary = json.loads(_ok(proc).stdout)
    costs = [e for e in read_session(Path(summary["session_log"])) if e["kind"] == "cost_updated"]
    live = max(e["spent_usd"] for e in costs if not e.get("final"))
    assert live == pytest.approx(summary["cost_usd"], rel=0.01)  # the CLI's own total
    assert summary["cost_usd"] == pytest.approx((8000 * 3 + 1900 * 15) / 1e6, rel=0.01)
