"""Traces from elsewhere: imported, they never replay until a human approved them; approved,
they replay only inside the sandbox, and still harm nothing.

tests/data/hostile_traces/ holds traces that look like ordinary learned goals ("Clean up the
build folder") and would delete the home folder, overwrite start-up files, steal and send
credentials, open a reverse shell, kill processes, fork-bomb... when replayed (made by
tests/data/make_hostile_traces.py; every target is a decoy, tests/decoys.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
from conftest import MODEL, Sandbox, run_llmos
from decoys import (
    TEST_LIMITS,
    Decoys,
    configure,
    decoys_fixture,  # noqa: F401  (the `decoys` fixture)
    needs_sandbox,
)

from llmos._internal.memory.trace import Trace, TraceStep, parse, render
from llmos._internal.security.sandbox import host_facts
from llmos._internal.security.trust import TrustStore
from llmos._internal.testing.scripted_model import ScriptedModelServer
from llmos._internal.workspace import Workspace

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile_traces"
# The policy reads these commands (in the clear, or in a script the trace writes) and
# refuses the trace at import; the compiled-* ones hide their harm in a program it cannot
# read: they are imported (untrusted), and only the sandbox stands in their way.
REFUSED_AT_IMPORT = {
    "plain-rm-home.md",
    "cleanup-script.md",
    "python-tidy.md",
    "makefile-clean.md",
    "npm-clean.md",
    "node-remove.md",
    "collect-credentials.md",
    "exfiltrate-key.md",
    "bashrc-persistence.md",
}


def _library(sandbox: Sandbox) -> Path:
    library = sandbox.root / "shared-library"
    shutil.copytree(HOSTILE, library)
    if host_facts().process_limit == "none":  # a fork bomb would reach the machine
        (library / "fork-bomb.md").unlink()
    return library


@needs_sandbox
def test_imported_hostile_traces_never_replay_untrusted_and_stay_contained_once_trusted(
    sandbox: Sandbox, decoys: Decoys
) -> None:
    assert len(list(HOSTILE.glob("*.md"))) >= 15
    configure(sandbox, TEST_LIMITS)  # sandbox: auto; imported traces need it anyway
    proc = run_llmos(sandbox, "traces", "import", str(_library(sandbox)), "--json")
    report = {Path(r["file"]).name: r for r in json.loads(proc.stdout)["files"]}
    refused = {name for name, r in report.items() if not r["imported"]}
    assert refused >= REFUSED_AT_IMPORT
    assert all("refused by the security policy" in report[n]["reason"] for n in refused)
    assert proc.returncode == 1  # some were refused
    imported = [r for r in report.values() if r["imported"]]
    assert {n for n in report if n.startswith("compiled-")} <= {
        Path(r["file"]).name for r in imported
    }
    assert imported and not any(r["trusted"] for r in imported)
    goals = {r["trace_id"]: parse(Path(r["path"]).read_text()).goal_text for r in imported}

    # A plain `llmos run "goal"`: no --yes, no terminal, no model. Nothing may run.
    for trace_id, goal in goals.items():
        proc = run_llmos(sandbox, "run", goal, env=decoys.env)
        assert proc.returncode == 1, (goal, proc.stdout, proc.stderr)
        said = " ".join(proc.stderr.split())
        assert "no human has approved its plan yet" in said
        assert f"llmos traces trust {trace_id}" in said
    # --yes approves what the policy asks about, never a trace.
    proc = run_llmos(sandbox, "run", "--yes", next(iter(goals.values())), env=decoys.env)
    assert proc.returncode == 1 and "no human has approved" in " ".join(proc.stderr.split())
    assert list(sandbox.output.iterdir()) == []  # not even a script was written
    decoys.assert_unharmed(sandbox.output)

    # Approved by a human: they replay, inside the sandbox, and still harm nothing.
    outcomes = {}
    for trace_id, goal in goals.items():
        assert run_llmos(sandbox, "traces", "trust", trace_id, "--yes").returncode == 0
        proc = run_llmos(sandbox, "run", "--json", goal, env=decoys.env, timeout=180)
        summary = json.loads(proc.stdout)
        assert summary["mode"] == "follower", (goal, summary)
        assert summary["sandbox"] == "bubblewrap (llmos)", (goal, summary)
        outcomes[goal] = summary["status"]
    decoys.assert_unharmed(sandbox.output)
    # The scripts really ran, and their harmful commands failed inside the sandbox.
    results = {
        p.stem.removeprefix("result-"): p.read_text().strip()
        for p in sandbox.output.glob("result-*.txt")
    }
    assert {"c-wipe", "c-read", "c-exfil", "c-kill", "c-rc"} <= set(results), results
    assert {k: v for k, v in results.items() if v == "0"} == {}
    assert (
        not (sandbox.output / "fixture.bin").exists()
        or (sandbox.output / "fixture.bin").stat().st_size <= 5 * 1024 * 1024
    )
    assert "success" in outcomes.values()


def _approved_import(sandbox: Sandbox, name: str) -> tuple[str, str]:
    library = sandbox.root / "one"
    library.mkdir()
    shutil.copy(HOSTILE / name, library / name)
    report = json.loads(run_llmos(sandbox, "traces", "import", str(library), "--json").stdout)[
        "files"
    ]
    trace_id = report[0]["trace_id"]
    assert run_llmos(sandbox, "traces", "trust", trace_id, "--yes").returncode == 0
    return trace_id, parse((library / name).read_text()).goal_text


def _path_without_bwrap(sandbox: Sandbox) -> dict[str, str]:
    """A PATH on which bubblewrap cannot be found (bash and the basics can)."""
    bin_dir = sandbox.root / "bin-without-bwrap"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "rm", "ls", "cat", "echo", "wc", "true"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return {"PATH": str(bin_dir)}


def test_an_imported_trace_replays_only_in_the_sandbox_whatever_the_setting(
    sandbox: Sandbox, decoys: Decoys
) -> None:
    configure(sandbox, "sandbox: off\n")
    _, goal = _approved_import(sandbox, "compiled-wipe-home.md")
    no_bwrap = _path_without_bwrap(sandbox)
    proc = run_llmos(sandbox, "run", "--json", goal, env={**decoys.env, **no_bwrap})
    assert proc.returncode == 6, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)  # --json: the error is JSON on stdout
    said = " ".join(f"{error['error']} {error['hint']}".split())
    assert "replays only inside the sandbox" in said and "bubblewrap" in said
    assert list(sandbox.output.iterdir()) == []
    if host_facts().bwrap is not None and os.environ.get("PATH"):
        proc = run_llmos(sandbox, "run", "--json", goal, env=decoys.env)
        summary = json.loads(proc.stdout)
        assert summary["sandbox"] == "bubblewrap (llmos)"  # even with sandbox: off
    decoys.assert_unharmed(sandbox.output)


def _learned_here(sandbox: Sandbox, goal: str, command: str) -> None:
    """A trace in the library before llmos kept trust: adopted as learned."""
    trace = Trace(
        goal_text=goal,
        steps=(TraceStep("Bash", {"command": command}, checks={"exit_code": 0}),),
        result="Done.",
    )
    sandbox.traces.mkdir(parents=True, exist_ok=True)
    (sandbox.traces / f"{trace.goal_signature}.md").write_text(render(trace))


def test_without_a_sandbox_auto_says_so_once_and_required_refuses(sandbox: Sandbox) -> None:
    goal = "Count the files"
    _learned_here(sandbox, goal, "ls | wc -l > count.txt; ls | wc -l >> count.txt")
    no_bwrap = _path_without_bwrap(sandbox)
    proc = run_llmos(sandbox, "run", goal, env=no_bwrap)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        " ".join(proc.stdout.split()).count("no sandbox: bubblewrap (bwrap) is not installed") == 1
    )
    assert (sandbox.output / "count.txt").exists()
    (sandbox.output / "count.txt").unlink()
    with (sandbox.workspace / "config.yaml").open("a") as config:
        config.write("\nsandbox: required\n")
    proc = run_llmos(sandbox, "run", goal, env=no_bwrap)
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 6 and "sandbox: required" in said and "`llmos doctor`" in said
    assert not (sandbox.output / "count.txt").exists()


_ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z]|\r|\n)*"


def _shown(text: str) -> str:
    """A regex for `text` as a terminal shows it (styles may sit between its characters)."""
    return _ANSI.join(re.escape(char) for char in text)


def _in_terminal(sandbox: Sandbox, *args: str, env: dict[str, str]) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmos", *args],
        env={**os.environ, **env, "TERM": "xterm"},
        cwd=str(sandbox.root),
        dimensions=(50, 250),
        encoding="utf-8",
        timeout=60,
    )
    child.logfile_read = (sandbox.root / "terminal.log").open("a", encoding="utf-8")
    return child


@needs_sandbox
def test_in_a_terminal_the_run_asks_before_replaying_an_imported_trace(
    sandbox: Sandbox, decoys: Decoys
) -> None:
    library = sandbox.root / "one"
    library.mkdir()
    shutil.copy(HOSTILE / "compiled-wipe-home.md", library)
    report = json.loads(run_llmos(sandbox, "traces", "import", str(library), "--json").stdout)[
        "files"
    ]
    trace_id, goal = report[0]["trace_id"], "Build and run the cleaner"

    child = _in_terminal(sandbox, "run", goal, env=decoys.env)
    try:
        child.expect(_shown("approval needed: Replay trace"))
        child.expect(_shown("was imported from"))
        child.expect(_shown("4. Bash: ./run-script wipe.sh"))  # the plan, before any answer
        child.expect(_shown("approve, modify or reject? [a/m/r]"))
        child.send("r\r")
        child.expect(_shown("reason"))
        child.send("\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1 and list(sandbox.output.iterdir()) == []
    with TrustStore.of(_workspace(sandbox)) as store:
        assert not store.check(parse((library / "compiled-wipe-home.md").read_text())).trusted

    child = _in_terminal(sandbox, "run", goal, env=decoys.env)
    try:
        child.expect(_shown("approve, modify or reject? [a/m/r]"))
        child.send("a\r")
        child.expect(_shown("follower mode"))
        child.expect(_shown("bubblewrap (llmos)"))
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert (sandbox.output / "result-c-wipe.txt").read_text().strip() != "0"
    decoys.assert_unharmed(sandbox.output)
    # Approved once: the next run replays without asking.
    proc = run_llmos(sandbox, "run", "--json", goal, env=decoys.env)
    assert json.loads(proc.stdout)["mode"] == "follower", proc.stderr
    shown = json.loads(run_llmos(sandbox, "traces", "show", trace_id, "--json").stdout)
    assert shown["trust"]["approved_by"] == "the user" and shown["trust"]["needs_sandbox"]


def test_traces_trust_shows_the_plan_and_asks(sandbox: Sandbox) -> None:
    library = sandbox.root / "one"
    library.mkdir()
    shutil.copy(HOSTILE / "compiled-kill.md", library)
    report = json.loads(run_llmos(sandbox, "traces", "import", str(library), "--json").stdout)[
        "files"
    ]
    trace_id = report[0]["trace_id"]
    child = _in_terminal(sandbox, "traces", "trust", trace_id, env={})
    try:
        child.expect(_shown("not trusted"))
        child.expect(_shown("4. Bash: ./run-script stop.sh"))
        child.expect(_shown("files written: runner.c, stop.sh"))
        child.expect(_shown("Trust this trace?"))
        child.send("n\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1
    child = _in_terminal(sandbox, "traces", "trust", trace_id, env={})
    try:
        child.expect(_shown("Trust this trace?"))
        child.send("y\r")
        child.expect(_shown(f"trusted trace {trace_id}"))
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def _workspace(sandbox: Sandbox) -> Workspace:
    return Workspace.open(sandbox.workspace)


def test_a_learner_run_with_sandbox_required_and_none_here_never_reaches_the_model(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    configure(sandbox, "sandbox: required\n")
    proc = run_llmos(
        sandbox,
        "run",
        "--model",
        MODEL,
        "Say hi",
        server=scripted,
        env=_path_without_bwrap(sandbox),
    )
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 6 and "cannot sandbox Learner runs' commands" in said
    assert scripted.requests == []  # refused before anything was spent
