"""Follower replays what a goal means, or nothing: end to end, with the real `llmos` command,
the real SDK and CLI learning against the scripted model, and replays with no model.

Templates with swapped values, a hand-edited file that is never lost, a diverging replay
that leaves the folder exactly as it was, a learned script that keeps its exec bit, failed
runs that are not learned, corrupt trace files, aliases, a replay killed by --timeout (or
llmos killed) with no process left, concurrent replays that all count, and `llmos undo`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos
from decoys import configure

from llmos._internal.memory.trace import parse
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool


def _run(sandbox: Sandbox, server: ScriptedModelServer | None, *args: str) -> dict:
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, *args, server=server)
    assert proc.stdout, proc.stderr
    summary = json.loads(proc.stdout)
    summary["_exit"] = proc.returncode
    summary["_stderr"] = proc.stderr
    return summary


def _learn(sandbox: Sandbox, scripted: ScriptedModelServer, goal: str, *turns: object) -> dict:
    scripted.script(*turns)  # type: ignore[arg-type]
    summary = _run(sandbox, scripted, "--mode", "learner", goal)
    assert summary["_exit"] == 0 and summary["status"] == "success", summary
    scripted.assert_complete()
    scripted.reset()
    return summary


def _folder(path: Path) -> dict[str, tuple[str, int]]:
    """Every file under `path`: its content and mode."""
    return {
        p.relative_to(path).as_posix(): (p.read_text(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _rows(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY started_at")]


def test_the_reversed_copy_replays_with_its_values_swapped(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    sandbox.output.mkdir(parents=True)
    (sandbox.output / "notes.txt").write_text("the real notes\n")
    learned = _learn(
        sandbox,
        scripted,
        "copy notes.txt to backup.txt",
        use_tool("Bash", command="cp notes.txt backup.txt"),
        say("Copied notes.txt to backup.txt."),
    )
    (sandbox.output / "notes.txt").write_text("broken\n")  # the user breaks the original
    restore = _run(sandbox, scripted, "copy backup.txt to notes.txt")
    assert scripted.requests == []  # replayed, no model
    assert restore["mode"] == "follower" and restore["status"] == "success"
    assert "backup.txt -> notes.txt" in restore["mode_reason"]
    assert (sandbox.output / "notes.txt").read_text() == "the real notes\n"  # restored
    assert (sandbox.output / "backup.txt").read_text() == "the real notes\n"  # untouched
    assert restore["result"] == "Copied backup.txt to notes.txt."
    trace = parse(Path(learned["trace_path"]).read_text())
    assert trace.template.render() == "copy {1} to {2}"
    assert (trace.usage_count, trace.success_count) == (2, 2)  # a template match counts


def test_a_template_replay_converts_another_file(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    sandbox.output.mkdir(parents=True)
    (sandbox.output / "data.csv").write_text("name,qty\napple,3\n")
    (sandbox.output / "report.csv").write_text("name,qty\npear,5\nplum,1\n")
    script = (
        "import csv, json, sys\n"
        "rows = list(csv.DictReader(open('data.csv')))\n"
        "json.dump(rows, open('data.json', 'w'))\n"
    )
    _learn(
        sandbox,
        scripted,
        "Convert data.csv to data.json",
        use_tool("Write", file_path="convert.py", content=script),
        use_tool("Bash", command="python3 convert.py"),
        say("Converted data.csv to data.json."),
    )
    dry = json.loads(
        run_llmos(sandbox, "run", "--dry-run", "--json", "convert report.csv to report.json").stdout
    )
    assert dry["mode"] == "follower" and dry["template"] == "convert {1} to {2}"
    assert dry["values"] == {"data.csv": "report.csv", "data.json": "report.json"}
    assert "open('report.csv')" in dry["plan"]["steps"][0]["input"]["content"]
    summary = _run(sandbox, scripted, "convert report.csv to report.json")
    assert summary["mode"] == "follower" and summary["status"] == "success", summary
    assert scripted.requests == []
    rows = json.loads((sandbox.output / "report.json").read_text())
    assert rows == [{"name": "pear", "qty": "5"}, {"name": "plum", "qty": "1"}]


def test_a_file_edited_by_hand_is_never_overwritten(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _learn(
        sandbox,
        scripted,
        "create hello.py that prints hello",
        use_tool("Write", file_path="hello.py", content="print('hello')\n"),
        say("Created hello.py."),
    )
    hello = sandbox.output / "hello.py"
    hello.write_text("print('hello, my own edit')\n")
    forced = run_llmos(sandbox, "run", "--mode", "follower", "create hello.py that prints hello")
    assert forced.returncode == 1
    assert "hello.py changed since the trace was learned" in forced.stderr
    assert hello.read_text() == "print('hello, my own edit')\n"
    # Auto mode learns again, and says why; the trace was not at fault.
    scripted.script(say("hello.py already prints a greeting; I left your edit as it is."))
    summary = _run(sandbox, scripted, "create hello.py that prints hello")
    assert summary["mode"] == "learner"
    assert "hello.py changed since the trace was learned" in summary["mode_reason"]
    assert hello.read_text() == "print('hello, my own edit')\n"
    assert [r["mode"] for r in _rows(sandbox)] == ["learner", "learner"]  # no replay ran


def test_a_diverging_replay_leaves_the_folder_exactly_as_it_was(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    out = sandbox.output
    out.mkdir(parents=True)
    (out / "config.ini").write_text("[app]\nname = demo\n")
    (out / "keep").mkdir()
    (out / "keep" / "data.txt").write_text("precious\n")
    learned = _learn(
        sandbox,
        scripted,
        "prepare the release",
        use_tool("Read", file_path="config.ini"),  # the CLI edits only a file it has read
        use_tool("Edit", file_path="config.ini", old_string="demo", new_string="release"),
        use_tool("Bash", command="mkdir -p dist && echo built > dist/app.txt && rm keep/data.txt"),
        use_tool("Bash", command="test -f dist/app.txt"),
        say("Release prepared."),
    )
    # Back to how it was, then a world the preconditions cannot see: the last check fails.
    (out / "config.ini").write_text("[app]\nname = demo\n")
    (out / "keep" / "data.txt").write_text("precious\n")
    for path in sorted((out / "dist").rglob("*"), reverse=True):
        path.unlink()
    (out / "dist").rmdir()
    path = Path(learned["trace_path"])
    path.write_text(path.read_text().replace("test -f dist/app.txt", "test -f dist/missing.txt"))
    assert run_llmos(sandbox, "traces", "trust", path.stem, "--yes").returncode == 0  # edited
    before = _folder(out)
    summary = _run(sandbox, None, "--mode", "follower", "prepare the release")
    assert summary["status"] == "diverged" and "step 4" in summary["error"]
    assert "rolled back" in summary["error"]
    assert _folder(out) == before
    assert not (out / "dist").exists()


def test_a_learned_script_keeps_its_exec_bit(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "write run.sh that prints ok, make it executable and run it"
    _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Write", file_path="run.sh", content="#!/bin/sh\necho ok\n"),
        use_tool("Bash", command="chmod +x run.sh"),
        use_tool("Bash", command="./run.sh"),
        say("run.sh prints ok."),
    )
    for path in sandbox.output.iterdir():
        path.unlink()
    summary = _run(sandbox, scripted, goal)
    assert summary["mode"] == "follower" and summary["status"] == "success", summary
    assert scripted.requests == []
    assert stat.S_IMODE((sandbox.output / "run.sh").stat().st_mode) & 0o111
    # Replayed twice, the written file is again as learned: executable.
    assert _run(sandbox, scripted, goal)["status"] == "success"
    assert stat.S_IMODE((sandbox.output / "run.sh").stat().st_mode) == 0o755


def test_runs_whose_changes_failed_are_not_learned(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "build the site into public"
    learned = _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Bash", command="mkdir -p public && echo '<h1>hi</h1>' > public/index.html"),
        say("Built the site."),
    )
    trace_path = Path(learned["trace_path"])
    good = trace_path.read_text()
    # A run whose every change failed, though the model says it is done.
    scripted.script(
        use_tool("Bash", command="cp missing/*.html public/"),
        use_tool("Bash", command="false"),
        say("Done!"),
    )
    failed = _run(sandbox, scripted, "--mode", "learner", goal)
    assert failed["status"] == "success" and failed["trace_path"] is None
    assert trace_path.read_text() == good  # the working trace is not replaced
    scripted.reset()
    # A run whose last change failed is not learned either.
    scripted.script(
        use_tool("Write", file_path="page.html", content="<p>x</p>\n"),
        use_tool("Bash", command="cp page.html nowhere/"),
        say("Done."),
    )
    last = _run(sandbox, scripted, "--mode", "learner", "publish page.html")
    assert last["trace_path"] is None
    log = Path(last["session_log"]).read_text()
    assert "not saved as a trace: its last change (step 2" in log
    assert [p.name for p in sandbox.traces.glob("*.md")] == [trace_path.name]


def test_a_corrupt_trace_is_reported_once_and_never_overwritten(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "tidy the notes"
    learned = _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Bash", command="echo tidy > notes.md"),
        say("Tidied."),
    )
    path = Path(learned["trace_path"])
    path.write_text(path.read_text().replace("```json\n{", "```json\n{oops", 1))
    sig = path.stem
    listed = run_llmos(sandbox, "traces", "list")
    assert listed.returncode == 0
    assert listed.stderr.count("cannot be read") == 1 and f"llmos traces rm {sig}" in listed.stderr
    shown = run_llmos(sandbox, "traces", "show", sig)
    assert shown.returncode == 1 and "invalid JSON" in shown.stderr and str(path) in shown.stderr
    assert "Traceback" not in shown.stderr
    corrupt = path.read_text()
    scripted.script(use_tool("Bash", command="echo tidy > notes.md"), say("Tidied again."))
    again = _run(sandbox, scripted, goal)
    assert again["mode"] == "learner" and "cannot be read" in again["mode_reason"]
    assert again["_stderr"].count("cannot be read") <= 1
    (kept,) = (sandbox.traces / ".unreadable").glob("*.md")
    assert kept.read_text() == corrupt  # set aside, not overwritten
    assert parse(path.read_text()).goal_text == goal  # learned again in its place


def test_aliases_are_learned_listed_used_and_removed(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    steps = (use_tool("Bash", command="cp notes.txt backup.txt"), say("Done."))
    sandbox.output.mkdir(parents=True)
    (sandbox.output / "notes.txt").write_text("n\n")
    first = _learn(sandbox, scripted, "copy notes.txt to backup.txt", *steps)
    # Another wording, the same steps: an alias of the first trace, not a second trace.
    second = _learn(sandbox, scripted, "duplicate notes.txt as backup.txt", *steps)
    assert second["trace_path"] == first["trace_path"]
    assert len(list(sandbox.traces.glob("*.md"))) == 1
    sig = Path(first["trace_path"]).stem
    listed = json.loads(run_llmos(sandbox, "traces", "aliases", "--json").stdout)
    assert listed == {
        "aliases": [
            {
                "trace_id": sig,
                "goal": "duplicate notes.txt as backup.txt",
                "template": "duplicate {1} as {2}",
            }
        ],
        "count": 1,
    }
    (sandbox.output / "todo.md").write_text("t\n")
    summary = _run(sandbox, scripted, "duplicate todo.md as todo.bak")
    assert summary["mode"] == "follower" and "alias" in summary["mode_reason"]
    assert (sandbox.output / "todo.bak").read_text() == "t\n"
    removed = run_llmos(
        sandbox, "traces", "unalias", sig, "duplicate notes.txt as backup.txt", "--yes"
    )
    assert removed.returncode == 0, removed.stderr
    dry = json.loads(
        run_llmos(sandbox, "run", "--dry-run", "--json", "duplicate a.txt as b.txt").stdout
    )
    assert dry["mode"] == "learner"


def test_a_replay_stopped_by_its_timeout_leaves_no_process(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "wait as long as LLMOS_TEST_DELAY says, then write done.txt"
    _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Bash", command="sleep ${LLMOS_TEST_DELAY:-0} && echo done > done.txt"),
        say("Done."),
    )
    (sandbox.output / "done.txt").unlink()
    # The world changed where no precondition looks: the command now runs long.
    proc = run_llmos(
        sandbox, "run", "--json", "--timeout", "2", goal, env={"LLMOS_TEST_DELAY": "31.4159"}
    )
    summary = {**json.loads(proc.stdout), "_exit": proc.returncode}
    assert summary["mode"] == "follower" and summary["status"] == "timed_out", summary
    assert summary["_exit"] == 1 and summary["duration_secs"] < 10
    left = subprocess.run(["pgrep", "-f", "sleep 31.4159"], capture_output=True, check=False)
    assert left.stdout == b""  # the command's whole process group is gone
    assert not (sandbox.output / "done.txt").exists()
    row = _rows(sandbox)[-1]
    assert (row["mode"], row["status"]) == ("follower", "timed_out")
    log = Path(summary["session_log"])
    assert log.with_suffix(".seal").exists()  # the session log is sealed
    assert scripted.requests == []  # a stopped replay is not learned again


def test_concurrent_replays_are_each_counted(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "write hello.txt"
    learned = _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Write", file_path="hello.txt", content="hello\n"),
        say("Wrote hello.txt."),
    )
    runs = 8
    env = {**os.environ, "LLMOS_HOME": str(sandbox.workspace)}
    command = [sys.executable, "-P", "-m", "llmos", "run", "--json", goal]
    with ThreadPoolExecutor(runs) as pool:
        procs = list(
            pool.map(
                lambda _: subprocess.run(command, env=env, capture_output=True, text=True),
                range(runs),
            )
        )
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    assert {json.loads(p.stdout)["mode"] for p in procs} == {"follower"}
    trace = parse(Path(learned["trace_path"]).read_text())
    assert (trace.usage_count, trace.success_count) == (1 + runs, 1 + runs)


def test_undo_puts_back_what_a_replay_and_a_learner_run_changed(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    out = sandbox.output
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("v1\n")
    learner = _learn(
        sandbox,
        scripted,
        "rewrite notes.txt and log it",
        use_tool("Read", file_path="notes.txt"),  # the CLI writes over only a file it has read
        use_tool("Write", file_path="notes.txt", content="v2\n"),
        use_tool("Bash", command="echo rewritten >> log.txt"),
        say("Rewrote notes.txt."),
    )
    plan = json.loads(run_llmos(sandbox, "undo", "--dry-run", "--json").stdout)
    assert plan["run_id"] == learner["run_id"]
    assert plan["files"] == [
        {"path": "notes.txt", "action": "restore", "detail": "put back as before the run"}
    ]
    assert plan["not_undone_commands"] == ["echo rewritten >> log.txt"]
    assert run_llmos(sandbox, "undo", "--json").returncode == 2  # changes files: needs --yes
    done = run_llmos(sandbox, "undo", "--yes")
    assert done.returncode == 0, done.stderr
    assert (out / "notes.txt").read_text() == "v1\n"
    # A replay is undone whole, its command's effects included.
    (out / "log.txt").unlink()
    replay = _run(sandbox, scripted, "rewrite notes.txt and log it")
    assert replay["mode"] == "follower" and replay["status"] == "success", replay
    assert (out / "notes.txt").read_text() == "v2\n" and (out / "log.txt").exists()
    undone = json.loads(run_llmos(sandbox, "undo", replay["run_id"][:15], "--yes", "--json").stdout)
    assert sorted(undone["undone"]) == ["log.txt", "notes.txt"]
    assert (out / "notes.txt").read_text() == "v1\n" and not (out / "log.txt").exists()
    # A file changed since is left alone.
    (out / "notes.txt").write_text("mine\n")
    again = json.loads(run_llmos(sandbox, "undo", learner["run_id"], "--json", "--dry-run").stdout)
    assert again["files"][0]["action"] == "conflict"


def test_a_replay_ended_by_sigterm_is_rolled_back_and_recorded(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "note the start, then wait as long as LLMOS_TEST_DELAY says"
    _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Write", file_path="started.txt", content="started\n"),
        use_tool("Bash", command="sleep ${LLMOS_TEST_DELAY:-0}"),
        say("Done."),
    )
    (sandbox.output / "started.txt").unlink()
    env = {
        **os.environ,
        "LLMOS_HOME": str(sandbox.workspace),
        "LLMOS_TEST_DELAY": "27.1828",
    }
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "run", "--json", goal],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(200):  # until the replay's command runs
        found = subprocess.run(["pgrep", "-f", "sleep 27.1828"], capture_output=True, check=False)
        if found.stdout:
            break
        time.sleep(0.05)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    summary = json.loads(out)
    assert summary["mode"] == "follower" and summary["status"] == "interrupted"
    left = subprocess.run(["pgrep", "-f", "sleep 27.1828"], capture_output=True, check=False)
    assert left.stdout == b""
    assert not (sandbox.output / "started.txt").exists()  # rolled back
    row = _rows(sandbox)[-1]
    assert (row["mode"], row["status"]) == ("follower", "interrupted")
    assert Path(summary["session_log"]).with_suffix(".seal").exists()


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "sandbox-off"])
def test_a_replay_whose_llmos_is_killed_leaves_no_process(
    sandbox: Sandbox, scripted: ScriptedModelServer, sandboxed: bool
) -> None:
    """SIGKILL gives llmos no chance to end the step's process group: the command must die
    with it all the same (in the sandbox, bubblewrap's --die-with-parent; without one, the
    parent-death signal llmos sets in the child)."""
    if not sandboxed:
        configure(sandbox, "sandbox: off\n")
    goal = "wait for LLMOS_TEST_DELAY seconds in the background and the foreground"
    _learn(
        sandbox,
        scripted,
        goal,
        use_tool("Bash", command="sleep ${LLMOS_TEST_DELAY:-0}"),
        say("Done."),
    )
    delay = "26.535" if sandboxed else "35.897"
    env = {**os.environ, "LLMOS_HOME": str(sandbox.workspace), "LLMOS_TEST_DELAY": delay}
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", "run", "--json", goal],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # until the replay's command runs
            found = subprocess.run(["pgrep", "-f", f"sleep {delay}"], capture_output=True)
            if found.stdout:
                break
            time.sleep(0.05)
        assert found.stdout, "the replay's command never started"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    for _ in range(100):
        left = subprocess.run(["pgrep", "-f", f"sleep {delay}"], capture_output=True)
        if not left.stdout:
            break
        time.sleep(0.05)
    assert left.stdout == b"", "the command outlived llmos"
