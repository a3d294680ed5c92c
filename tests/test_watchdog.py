"""The watchdog: its limits as plain logic (an injected clock), then end to end: the real
`llmos run` with the real SDK and CLI, stopped when the scripted model stalls or a tool call
hangs, charged for what it spent, and leaving no process behind."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import MODEL, Sandbox, run_llmos
from test_learner_e2e import _cli_processes_using

from llmos._internal.kernel.watchdog import Watchdog, WatchdogLimits
from llmos._internal.memory.session_log import read_session, verify_session
from llmos._internal.testing.scripted_model import ScriptedModelServer, Turn, use_tool


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_limits_of_zero_are_off() -> None:
    assert WatchdogLimits.of(0, -1, None) == WatchdogLimits(None, None, None)
    assert WatchdogLimits.of(5, 10, 20) == WatchdogLimits(5, 10, 20)
    assert Watchdog(WatchdogLimits()).seconds_to_next_check() is None


def test_a_silent_stream_trips_the_stall_limit_only_while_no_tool_runs() -> None:
    clock = Clock()
    changes: list[str] = []
    dog = Watchdog(
        WatchdogLimits(stall_secs=10), clock=clock, on_change=lambda: changes.append("x")
    )
    clock.t += 9
    assert dog.breach() is None and dog.seconds_to_next_check() == 1
    dog.saw_activity()  # a streamed chunk: the model is alive
    clock.t += 9
    assert dog.breach() is None
    dog.tool_started("t1", "Bash")  # a long build: silence is expected now
    clock.t += 60
    assert dog.breach() is None and dog.seconds_to_next_check() is None
    dog.tool_finished("t1")
    clock.t += 10
    breach = dog.breach()
    assert breach is not None and breach.limit == "stall" and breach.limit_secs == 10
    assert "sent nothing for 10 s" in breach.detail
    assert changes == ["x", "x"]  # the runner re-plans its wait when a tool starts or ends


def test_one_tool_call_running_too_long_trips_the_tool_limit() -> None:
    clock = Clock()
    dog = Watchdog(WatchdogLimits(tool_secs=30, stall_secs=5), clock=clock)
    dog.tool_started("a", "Bash")
    clock.t += 20
    dog.tool_started("b", "Read")
    assert dog.seconds_to_next_check() == 10  # the oldest call's deadline
    dog.tool_finished("a")
    assert dog.seconds_to_next_check() == 30
    clock.t += 30
    breach = dog.breach()
    assert breach is not None and breach.limit == "tool"
    assert "Read tool call ran longer than 30 s" in breach.detail


def test_subagent_calls_are_not_tool_calls_to_the_watchdog() -> None:
    clock = Clock()
    dog = Watchdog(WatchdogLimits(tool_secs=30, stall_secs=5), clock=clock)
    dog.tool_started("sub", "Agent")
    clock.t += 4
    dog.saw_activity()  # the subagent's own stream
    clock.t += 100
    breach = dog.breach()
    assert breach is not None and breach.limit == "stall"  # not "tool": Agent is exempt


def test_the_run_limit_comes_first() -> None:
    clock = Clock()
    dog = Watchdog(WatchdogLimits(run_secs=60, stall_secs=5, tool_secs=5), clock=clock)
    dog.tool_started("a", "Bash")
    clock.t += 60
    breach = dog.breach()
    assert breach is not None and breach.limit == "run"
    assert breach.detail == "the run exceeded its timeout of 60 s"


def test_a_human_answering_an_approval_stops_the_stall_and_tool_clocks() -> None:
    clock = Clock()
    changes: list[str] = []
    limits = WatchdogLimits(run_secs=1000, stall_secs=10, tool_secs=30)
    dog = Watchdog(limits, clock=clock, on_change=lambda: changes.append("x"))
    dog.tool_started("a", "Bash")  # its PreToolUse hook asks the human
    clock.t += 20
    dog.pause()
    dog.pause()  # a second question at the same time (a subagent's call)
    assert dog.seconds_to_next_check() == 980  # only the run limit counts meanwhile
    clock.t += 600  # the human went for lunch
    assert dog.breach() is None
    dog.resume()
    assert dog.breach() is None  # still one question open
    dog.resume()
    assert dog.seconds_to_next_check() == 10  # the call's clock went on at 20 of its 30 s
    clock.t += 10
    breach = dog.breach()
    assert breach is not None and breach.limit == "tool"
    dog.tool_finished("a")
    assert dog.seconds_to_next_check() == 10  # the stall clock restarted at the answer
    dog.pause()
    clock.t += 400  # the run limit is wall-clock time: it counts even then
    breach = dog.breach()
    assert breach is not None and breach.limit == "run"
    assert changes.count("x") >= 4  # the runner re-plans its wait at each change


def test_the_run_context_pauses_its_agents_watchdog_while_a_human_is_asked() -> None:
    from llmos._internal.kernel.bus import EventBus
    from llmos._internal.kernel.run_context import RunContext

    clock = Clock()
    ctx = RunContext("g", "default", Path(), "learner", 1.0, EventBus())
    with ctx.waiting_for_human():  # no agent running: nothing to pause
        pass
    ctx.watchdog = Watchdog(WatchdogLimits(stall_secs=10), clock=clock)
    with ctx.waiting_for_human():
        clock.t += 60
        assert ctx.watchdog.breach() is None
    assert ctx.watchdog.breach() is None and ctx.watchdog.seconds_to_next_check() == 10


# End to end -------------------------------------------------------------------------------
def _configure(sandbox: Sandbox, settings: str) -> None:
    run_llmos(sandbox, "status")  # creates the workspace and its config.yaml
    with (sandbox.workspace / "config.yaml").open("a") as config:
        config.write("\n" + settings + "\n")


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs")]


def _stopped_run(sandbox: Sandbox, server: ScriptedModelServer, limit: str) -> dict:
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Wait", server=server)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "timed_out"
    (row,) = _ledger(sandbox)
    assert row["status"] == "timed_out" and row["cost_usd"] > 0  # charged for what it spent
    assert _cli_processes_using(sandbox.claude_config) == []
    log = Path(summary["session_log"])
    (tripped,) = [e for e in read_session(log) if e["kind"] == "watchdog_tripped"]
    assert tripped["limit"] == limit
    assert verify_session(log).ok
    return summary


def test_a_stalled_model_stream_is_interrupted(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    # The sandbox's start-up (seconds on a loaded machine) is not what this test times.
    _configure(sandbox, "stall_timeout_secs: 4\nsandbox: off")
    scripted.script(
        use_tool("Bash", command="echo started > started.txt"),
        Turn(text="...", delay=60),  # the model stops answering
    )
    summary = _stopped_run(sandbox, scripted, "stall")
    assert "the model sent nothing for 4 s" in summary["error"]
    assert (sandbox.output / "started.txt").exists()


def test_a_hanging_tool_call_is_interrupted_and_its_process_ended(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _configure(sandbox, "tool_timeout_secs: 1.5")
    scripted.script(
        use_tool("Bash", command="sleep 60; echo late > late.txt", description="Hang"),
    )
    summary = _stopped_run(sandbox, scripted, "tool")  # `sleep` inherits the CLI's env: checked
    assert "a Bash tool call ran longer than 1.5 s" in summary["error"]
    assert not (sandbox.output / "late.txt").exists()
