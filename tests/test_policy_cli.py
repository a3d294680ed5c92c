"""`llmos policy show | check | audit`: the real command line in a child process, in the
sandbox. The commands checked are data: `policy check` judges them and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Sandbox, run_llmos

from llmos._internal.memory.trace import Trace, TraceStep, render

COMMANDS = ["ls -la", "rm -rf ~", "npm publish", "case $x in a) echo;; esac", "rm -rf build"]


def test_check_prints_one_line_per_command_in_order(sandbox: Sandbox) -> None:
    canary = sandbox.home / "keep-me.txt"
    canary.write_text("precious")
    proc = run_llmos(sandbox, "policy", "check", *COMMANDS)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["allow", "deny", "ask", "ask", "allow"]
    assert "[rm-protected-path]" in lines[1] and "rm -rf ~" in lines[1]
    assert "[unparseable]" in lines[3]
    assert canary.read_text() == "precious"  # judged, never run


def test_check_reads_commands_from_stdin_and_reports_them_as_json(sandbox: Sandbox) -> None:
    stdin = "\n".join(COMMANDS) + "\n\n"  # a blank line is no command
    proc = run_llmos(sandbox, "policy", "check", "--json", "-", stdin=stdin)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    rows = report["decisions"]
    assert report["count"] == len(COMMANDS) and report["all_allowed"] is False
    assert [r["command"] for r in rows] == COMMANDS
    assert [r["decision"] for r in rows] == ["allow", "deny", "ask", "ask", "allow"]
    assert all({"decision", "reason", "rule"} <= set(r) for r in rows)
    assert rows[2]["rule"] == "policy-ask" and "npm publish*" in rows[2]["reason"]


def test_check_exits_0_when_everything_is_allowed(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "policy", "check", "--json", "-", stdin="git status\nmake test\n")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [d["decision"] for d in report["decisions"]] == ["allow"] * 2 and report["all_allowed"]


def test_check_cwd_is_where_the_commands_run(sandbox: Sandbox) -> None:
    elsewhere = sandbox.home / "elsewhere"
    elsewhere.mkdir()
    target = str(elsewhere / "build")
    denied = run_llmos(sandbox, "policy", "check", "--json", f"rm -rf {target}")
    assert json.loads(denied.stdout)["decisions"][0]["rule"] == "delete-outside-workdir"
    allowed = run_llmos(sandbox, "policy", "check", "--cwd", str(elsewhere), "rm -rf build")
    assert allowed.returncode == 0 and allowed.stdout.startswith("allow")


def test_check_usage_errors(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "policy", "check", "-", stdin="\n")
    assert proc.returncode == 2 and "no command to check" in proc.stderr
    proc = run_llmos(sandbox, "policy", "check", "ls", "-")
    assert proc.returncode == 2 and "must be the only argument" in proc.stderr
    proc = run_llmos(sandbox, "policy", "check", "-p", "../x", "ls")
    assert proc.returncode == 2 and "invalid project name" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_show_prints_the_policy_in_effect_with_its_sources(sandbox: Sandbox) -> None:
    sandbox.workspace.mkdir(parents=True, exist_ok=True)
    (sandbox.workspace / "policy.yaml").write_text(
        "rules:\n  git-force-main: ask\ndeny:\n  commands: ['terraform *']\n"
    )
    proc = run_llmos(sandbox, "policy", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["rules"]["git-force-main"]["action"] == "ask"
    assert data["rules"]["git-force-main"]["set_by"] == "workspace"
    assert data["deny"]["commands"] == [{"pattern": "terraform *", "layer": "workspace"}]
    assert "rm-protected-path" in data["hard_rules"]
    found = {f["layer"]: f["found"] for f in data["files"]}
    assert found == {"default": True, "workspace": True, "project default": False}
    assert str(sandbox.workspace / "policy.yaml") in data["guarded"]
    text = run_llmos(sandbox, "policy", "show")
    assert text.returncode == 0
    assert "hard rules" in text.stdout and "terraform *" in text.stdout
    # The workspace's policy applies to `check` too.
    checked = run_llmos(sandbox, "policy", "check", "--json", "git push -f origin main")
    assert json.loads(checked.stdout)["decisions"][0]["decision"] == "ask"


def test_a_bad_policy_file_is_reported_without_a_traceback(sandbox: Sandbox) -> None:
    sandbox.workspace.mkdir(parents=True, exist_ok=True)
    (sandbox.workspace / "policy.yaml").write_text("rules:\n  rm-protected-path: allow\n")
    for args in (["policy", "show"], ["policy", "check", "ls"]):
        proc = run_llmos(sandbox, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "rm-protected-path is a hard rule" in proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
    proc = run_llmos(sandbox, "run", "--json", "anything")  # under --json the error is JSON
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    error = json.loads(proc.stdout)
    assert "rm-protected-path is a hard rule" in error["error"] and error["exit_code"] == 2


def _trace_file(path: Path, goal: str, *commands: str) -> Path:
    steps = tuple(TraceStep(tool="Bash", input={"command": c}) for c in commands)
    path.write_text(render(Trace(goal_text=goal, steps=steps, result="done")))
    return path


def test_import_decisions_go_to_the_audit_trail(sandbox: Sandbox) -> None:
    library = sandbox.root / "library"
    library.mkdir()
    _trace_file(library / "a.md", "Count the notes", "ls | wc -l > count.txt")
    _trace_file(library / "b.md", "Set up my tool", 'eval "$(mytool init -)"', "mytool --version")
    _trace_file(library / "c.md", "Tidy home", "rm -rf ~/*")
    proc = run_llmos(sandbox, "traces", "import", str(library), "--json")
    assert proc.returncode == 1, proc.stderr  # c.md is rejected
    report = {Path(r["file"]).name: r for r in json.loads(proc.stdout)["files"]}
    assert report["a.md"]["imported"] and "needs_approval" not in report["a.md"]
    assert report["b.md"]["imported"]
    assert report["b.md"]["needs_approval"][0].startswith("step 1 (Bash)")
    assert not report["c.md"]["imported"] and "rm-protected-path" in report["c.md"]["reason"]

    audit = json.loads(run_llmos(sandbox, "policy", "audit", "--json").stdout)["entries"]
    assert [(e["run_id"], e["decision"], e["rule"]) for e in audit] == [
        ("import:a.md", "allow", "none"),
        ("import:b.md", "ask", "dynamic-command"),
        ("import:b.md", "allow", "none"),
        ("import:c.md", "deny", "rm-protected-path"),
    ]
    assert audit[3]["input"] == {"command": "rm -rf ~/*"} and audit[3]["source"] == "import"
    only_b = json.loads(run_llmos(sandbox, "policy", "audit", "--json", "--run", "import:b").stdout)
    assert [e["run_id"] for e in only_b["entries"]] == ["import:b.md"] * 2
    last = json.loads(run_llmos(sandbox, "policy", "audit", "--json", "-n", "1").stdout)
    assert [e["run_id"] for e in last["entries"]] == ["import:c.md"]
    table = run_llmos(sandbox, "policy", "audit")
    assert table.returncode == 0 and "rm-protected-path" in table.stdout


def test_import_judges_a_script_by_what_an_earlier_step_wrote(sandbox: Sandbox) -> None:
    library = sandbox.root / "library"
    library.mkdir()
    steps = (
        TraceStep(tool="Write", input={"file_path": "cleanup.sh", "content": "rm -rf ~\n"}),
        TraceStep(tool="Bash", input={"command": "sh cleanup.sh"}),
    )
    (library / "t.md").write_text(render(Trace(goal_text="Tidy", steps=steps, result="done")))
    proc = run_llmos(sandbox, "traces", "import", str(library), "--json")
    assert proc.returncode == 1, proc.stderr
    (report,) = json.loads(proc.stdout)["files"]
    assert not report["imported"]
    assert "step 2 (Bash)" in report["reason"] and "In cleanup.sh" in report["reason"]


def test_audit_with_nothing_recorded(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "policy", "audit")
    # Piped, an empty list prints nothing on stdout; what there is to say goes to stderr.
    assert proc.returncode == 0 and proc.stdout == ""
    assert "no decisions recorded yet" in proc.stderr
    assert json.loads(run_llmos(sandbox, "policy", "audit", "--json").stdout) == {
        "entries": [],
        "count": 0,
    }


def test_policy_is_listed_in_help(sandbox: Sandbox) -> None:
    assert "policy" in run_llmos(sandbox, "--help").stdout
    sub = run_llmos(sandbox, "policy", "--help")
    assert sub.returncode == 0
    assert all(word in sub.stdout for word in ("show", "check", "audit"))
