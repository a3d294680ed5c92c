"""What the listings print: whole values as tab-separated records when piped (grep and cut
find them), tables that fit the terminal without cutting an id, a rule name or a path, and
`traces show` that is the trace file itself when piped or with --raw."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
from cli_walk import populate
from conftest import Sandbox, run_in_terminal, run_llmos

from llmos._internal.memory.goal_form import goal_signature
from llmos._internal.memory.trace import Trace, TraceStep, render

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_FACT = (
    "Our Python scripts live in scripts/ and run with python3 from the repository root, "
    "never from inside scripts/, because they import the shared helpers by relative path"
)
LONG_GOAL = (
    "Write a Python program report.py that reads every CSV file in data/, sums the amount "
    "column per customer, and prints the ten largest customers as a table"
)
LONG_COMMAND = (
    'python3 -c "import csv, glob, collections; totals = collections.Counter(); '
    "[totals.update({r['customer']: float(r['amount'])}) for f in glob.glob('data/*.csv') "
    'for r in csv.DictReader(open(f))]; print(totals.most_common(10))" > report.txt'
)


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _records(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def _long_trace(sandbox: Sandbox) -> tuple[str, Path]:
    trace = Trace(
        goal_text=LONG_GOAL,
        steps=(TraceStep("Bash", {"command": LONG_COMMAND}),),
        result="The ten largest customers are in report.txt, " + "with their totals, " * 8,
    )
    path = sandbox.traces / f"{goal_signature(LONG_GOAL)}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(trace), encoding="utf-8")
    return goal_signature(LONG_GOAL), path


def test_piped_listings_are_whole_records_that_grep_finds(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    narrow = {"COLUMNS": "40"}  # what the terminal's width says is beside the point in a pipe
    fact = json.loads(run_llmos(sandbox, "memory", "add", "--json", LONG_FACT).stdout)
    trace_id, _ = _long_trace(sandbox)
    job = json.loads(
        run_llmos(sandbox, "schedule", "add", "--json", "--every", "1h", LONG_GOAL).stdout
    )
    cases = {
        ("memory", "list"): (fact["id"], LONG_FACT),
        ("memory", "search", "python3 scripts"): (fact["id"], LONG_FACT),
        ("traces", "list"): (trace_id, LONG_GOAL),
        ("schedule", "list"): (job["id"], LONG_GOAL),
        ("sessions", "list"): (values["run"], values["goal"]),
    }
    for command, (record_id, text) in cases.items():
        proc = run_llmos(sandbox, *command, env=narrow)
        assert proc.returncode == 0, proc.stderr
        header, *rows = _records(proc.stdout)
        assert header[0] in ("id", "run") and all(len(row) == len(header) for row in rows), command
        (row,) = [r for r in rows if r[0] == record_id]  # the id whole, in the first column
        assert text in row, (command, row)  # the value whole, in its column
        assert "…" not in proc.stdout
        pipeline = shlex.join([sys.executable, "-P", "-m", "llmos", *command])
        grep = subprocess.run(
            f"{pipeline} | grep 'run with python3\\|ten largest'",
            shell=True,
            capture_output=True,
            text=True,
            cwd=sandbox.root,
            env={**os.environ, **narrow},
        )
        if command[0] != "sessions":
            assert grep.returncode == 0 and text in grep.stdout, (command, grep.stdout)
    # A rule name is what one types into policy.yaml: each on a line of its own, whole.
    policy = run_llmos(sandbox, "policy", "show", env=narrow)
    rules = json.loads(run_llmos(sandbox, "policy", "show", "--json").stdout)["rules"]
    lines = policy.stdout.splitlines()
    for rule in rules:
        assert any(line.split("\t")[0] == rule for line in lines), rule
    # The summary of a run: its session log's path whole, after a label and a tab.
    run = run_llmos(sandbox, "run", values["goal"], env=narrow)
    (log,) = [
        line.split("\t")[1] for line in run.stdout.splitlines() if line.startswith("session log:")
    ]
    assert Path(log).is_file()


def test_traces_show_piped_or_raw_is_the_trace_file_byte_for_byte(sandbox: Sandbox) -> None:
    run_llmos(sandbox, "status")
    trace_id, path = _long_trace(sandbox)
    original = path.read_bytes()
    copy = sandbox.root / "copy.md"
    with copy.open("wb") as out:  # `llmos traces show ID > copy.md`
        subprocess.run(
            [sys.executable, "-P", "-m", "llmos", "traces", "show", trace_id[:8]],
            stdout=out,
            check=True,
            cwd=sandbox.root,
            env={**os.environ, "COLUMNS": "40"},
        )
    assert copy.read_bytes() == original
    raw = subprocess.run(
        [sys.executable, "-P", "-m", "llmos", "traces", "show", "--raw", trace_id],
        capture_output=True,
        check=True,
        cwd=sandbox.root,
    )
    assert raw.stdout == original
    # The copy is a trace: it imports (it is the same one, so it is not added twice).
    imported = json.loads(run_llmos(sandbox, "traces", "import", str(copy), "--json").stdout)
    assert imported["files"][0]["reason"] == f"already in the library as {trace_id}"
    # On a terminal: the readable view, with whether it replays; --raw is the file there too.
    status, shown = run_in_terminal(sandbox, "traces", "show", trace_id, columns=100)
    assert status == 0 and "replayable in Follower mode" in _plain(shown)
    status, shown = run_in_terminal(sandbox, "traces", "show", "--raw", trace_id, columns=60)
    assert status == 0 and shown.encode() == original
    both = run_llmos(sandbox, "traces", "show", trace_id, "--raw", "--json")
    assert both.returncode == 2 and json.loads(both.stdout)["error"].startswith("--raw and --json")


def test_memory_show_piped_is_the_file(sandbox: Sandbox) -> None:
    fact = json.loads(run_llmos(sandbox, "memory", "add", "--json", LONG_FACT).stdout)
    shown = subprocess.run(
        [sys.executable, "-P", "-m", "llmos", "memory", "show", fact["id"]],
        capture_output=True,
        check=True,
        cwd=sandbox.root,
    )
    assert shown.stdout == Path(fact["path"]).read_bytes()


def test_tables_on_a_terminal_fit_it_and_never_cut_an_id(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    fact = json.loads(run_llmos(sandbox, "memory", "add", "--json", LONG_FACT).stdout)
    trace_id, _ = _long_trace(sandbox)
    rules = json.loads(run_llmos(sandbox, "policy", "show", "--json").stdout)["rules"]
    for columns in (80, 110):
        for command, whole in (
            (("sessions", "list"), [values["run"]]),
            (("traces", "list"), [trace_id, values["trace"]]),
            (("memory", "list"), [fact["id"], values["fact"]]),
            (("schedule", "list"), [values["job"]]),
            (("policy", "show"), list(rules)),
        ):
            status, shown = run_in_terminal(sandbox, *command, columns=columns)
            text = _plain(shown)
            assert status == 0, text
            for value in whole:
                assert value in text, (columns, command, value, text)
            assert "…" not in text, (columns, command, text)
            too_wide = [  # a line with the workspace's path is the terminal's to wrap
                line
                for line in text.splitlines()
                if len(line.rstrip()) > columns and str(sandbox.workspace) not in line
            ]
            assert not too_wide, (columns, command, too_wide)
    # A long path is never cut either: the terminal wraps the line, llmos does not.
    status, shown = run_in_terminal(sandbox, "status", columns=40)
    assert status == 0 and str(sandbox.workspace) in _plain(shown)


def test_the_repl_lists_whole_ids(sandbox: Sandbox) -> None:
    from test_repl import shown

    values = populate(sandbox)
    env = dict(os.environ)
    env.update({"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "110", "LINES": "50"})
    child = pexpect.spawn(
        sys.executable,
        ["-P", "-m", "llmos", "interactive"],
        env=env,
        cwd=str(sandbox.root),
        dimensions=(50, 110),
        encoding="utf-8",
        timeout=30,
    )
    try:
        child.expect(shown("llmos default>"))
        child.send("/sessions list\r")
        child.expect(shown(values["run"]))
        child.expect(shown("llmos default>"))
        child.send("/traces\r")
        child.expect(shown(values["trace"]))
        child.expect(shown("llmos default>"))
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
