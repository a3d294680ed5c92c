"""Projects: their lifecycle through the real `llmos` command, bad names (a clear error and
nothing created anywhere), runs inside a project (its folder, settings, security policy
and budget), and the matching rule (a project's own trace first on equal confidence)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.template import Slot
from llmos._internal.memory.trace import Trace, TraceStep, parse
from llmos._internal.projects import create_project, open_project
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool
from llmos._internal.workspace import Workspace, validate_project_name


def _json(*args: str, sandbox: Sandbox) -> object:
    proc = run_llmos(sandbox, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_project_lifecycle(sandbox: Sandbox) -> None:
    created = _json("project", "create", "site", "-d", "The  web site", sandbox=sandbox)
    assert isinstance(created, dict)
    root = sandbox.workspace / "projects" / "site"
    assert created["name"] == "site" and created["path"] == str(root)
    assert created["description"] == "The web site"
    assert sorted(p.name for p in root.iterdir()) == [
        "components",
        "memory",
        "output",
        "project.yaml",
        "state",
    ]
    again = run_llmos(sandbox, "project", "create", "SITE")  # case-insensitively taken
    assert again.returncode == 2 and "a project named 'site' already exists" in again.stderr

    (listed,) = _json("project", "list", sandbox=sandbox)["projects"]  # type: ignore[index]
    assert listed["name"] == "site" and listed["description"] == "The web site"
    assert (listed["runs"], listed["traces"], listed["spent_usd"]) == (0, 0, 0.0)
    assert listed["budget_left_usd"] is None
    shown = _json("project", "show", "site", sandbox=sandbox)
    assert isinstance(shown, dict)
    assert shown["plugins"] is None and "Bash" in shown["tools"]
    assert "coder" in shown["agents"]  # the workspace's agent files serve its runs too
    human = run_llmos(sandbox, "project", "show", "site").stdout
    assert "The web site" in human and "budget left" in human

    refused = run_llmos(sandbox, "project", "rm", "site", stdin="y\n")
    assert refused.returncode == 2 and root.is_dir()  # no terminal to ask, and no --yes
    assert "pass --yes" in refused.stderr.lower()
    gone = _json("project", "rm", "site", "--yes", sandbox=sandbox)
    assert isinstance(gone, dict)
    assert (gone["name"], gone["path"], gone["deleted"]) == ("site", str(root), True)
    assert not root.exists()
    assert _json("project", "list", sandbox=sandbox) == {"projects": [], "count": 0}
    missing = run_llmos(sandbox, "project", "show", "site")
    assert missing.returncode == 2 and "no project named 'site'" in missing.stderr
    default = run_llmos(sandbox, "project", "rm", "default", "--yes")
    assert default.returncode == 2 and "cannot be removed" in default.stderr


BAD_NAMES = [
    ("../escape", "it is a path"),
    ("a/b", "it is a path"),
    ("..", "it is a path"),
    (".hidden", "it starts with a dot"),
    ("x" * 65, "it is 65 characters long"),
    ("has space", "it has characters other than"),
    ("", "it is empty"),
]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES)
def test_bad_names_say_why(name: str, why: str) -> None:
    with pytest.raises(UsageError) as raised:
        validate_project_name(name)
    assert raised.value.message.startswith(f"invalid project name {name!r}: {why}")


def test_a_bad_name_is_refused_and_nothing_is_created(sandbox: Sandbox) -> None:
    commands = [
        ["project", "create", "../escape"],
        ["project", "create", ".hidden"],
        ["project", "show", "../escape"],
        ["project", "rm", "../escape", "--yes"],
        ["budget", "set", "--project", "../escape", "1"],
        ["run", "-p", "../escape", "goal"],
    ]
    for args in commands:
        proc = run_llmos(sandbox, *args, env={"ANTHROPIC_API_KEY": "sk-unused"})
        assert proc.returncode == 2, (args, proc.stderr)
        assert "invalid project name" in proc.stderr and "Traceback" not in proc.stderr
        if args[0] == "project":  # checked before the workspace is even opened
            assert not sandbox.workspace.exists()
    # Not a project, nor a stray folder anywhere in the sandbox.
    assert not any((sandbox.workspace / "projects").iterdir())
    assert sorted(p.name for p in sandbox.root.iterdir()) == ["home", "workspace"]


def test_run_needs_an_existing_project_except_default(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "run", "-p", "sitee", "Build it", env={"ANTHROPIC_API_KEY": "x"})
    assert proc.returncode == 2
    assert "no project named 'sitee'" in proc.stderr and "llmos project create" in proc.stderr
    assert not (sandbox.workspace / "projects" / "sitee").exists()
    dry = run_llmos(sandbox, "run", "--dry-run", "-p", "sitee", "Build it")
    assert dry.returncode == 2 and "no project named 'sitee'" in dry.stderr
    # The default project is the exception: made on first use (and never by a dry run).
    assert run_llmos(sandbox, "run", "--dry-run", "Build it").returncode == 0
    assert not (sandbox.workspace / "projects" / "default").exists()
    ws = Workspace.open(sandbox.workspace)
    assert open_project(ws, "default").output_dir.is_dir()


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY started_at")]


def test_a_run_in_a_project_uses_its_folder_settings_policy_and_budget(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    assert run_llmos(sandbox, "project", "create", "docs").returncode == 0
    project_file = sandbox.workspace / "projects" / "docs" / "project.yaml"
    project_file.write_text(
        project_file.read_text().replace("settings: {}", "settings:\n  max_turns: 2")
    )
    (project_file.parent / "policy.yaml").write_text("deny:\n  tools: [Bash]\n")
    shown = _json("project", "show", "docs", sandbox=sandbox)
    assert isinstance(shown, dict) and "Bash" not in shown["tools"]
    budget = _json("budget", "set", "--project", "docs", "0.5", sandbox=sandbox)
    assert budget == {"project": "docs", "budget_left_usd": 0.5}

    scripted.script(
        use_tool("Write", file_path="guide.md", content="# Guide\n"), say("Wrote guide.md.")
    )
    goal = "Write a one-line guide"
    proc = run_llmos(
        sandbox, "run", "--json", "-p", "docs", "--model", MODEL, goal, server=scripted
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    output = sandbox.workspace / "projects" / "docs" / "output"
    assert summary["workdir"] == str(output) and summary["project"] == "docs"
    assert (output / "guide.md").read_text() == "# Guide\n"
    assert not (sandbox.output / "guide.md").exists()  # not the default project's folder
    # The project's security policy denies Bash: it is not even offered.
    request = scripted.message_requests[0]
    assert "Bash" not in request.tool_names and "Write" in request.tool_names
    trace = parse(Path(summary["trace_path"]).read_text())
    assert trace.project == "docs"
    (row,) = _ledger(sandbox)
    assert row["project"] == "docs"

    projects = _json("project", "list", sandbox=sandbox)["projects"]  # type: ignore[index]
    listed = {p["name"]: p for p in projects}
    docs = listed["docs"]
    assert docs["runs"] == 1 and docs["traces"] == 1
    assert docs["spent_usd"] == round(summary["cost_usd"], 6) > 0
    assert docs["budget_left_usd"] == pytest.approx(0.5 - summary["cost_usd"])

    # The project's settings: one turn fewer than the goal needs stops the run.
    project_file.write_text(project_file.read_text().replace("max_turns: 2", "max_turns: 1"))
    scripted.reset()
    scripted.script(use_tool("Write", file_path="guide.md", content="# Guide\n"), say("Done."))
    short = run_llmos(
        sandbox,
        "run",
        "--json",
        "-p",
        "docs",
        "--mode",
        "learner",
        "--model",
        MODEL,
        goal,
        server=scripted,
    )
    assert short.returncode == 1 and json.loads(short.stdout)["status"] == "max_turns"

    # Spent: the next Learner run in the project is refused before anything is spent.
    assert run_llmos(sandbox, "budget", "set", "--project", "docs", "0").returncode == 0
    scripted.reset()
    refused = run_llmos(sandbox, "run", "-p", "docs", "--mode", "learner", goal, server=scripted)
    assert refused.returncode == 4
    assert "project docs has $0.0000 of its budget left" in refused.stderr
    assert "llmos budget add --project docs" in refused.stderr
    assert scripted.message_requests == []
    # ...but a replay costs nothing, so it still runs.
    follow = run_llmos(sandbox, "run", "--json", "-p", "docs", goal, server=scripted)
    assert follow.returncode == 0 and json.loads(follow.stdout)["mode"] == "follower"
    cleared = _json("budget", "clear", "--project", "docs", sandbox=sandbox)
    assert cleared == {"project": "docs", "cleared": True}


def test_project_settings_and_policy_are_checked(sandbox: Sandbox) -> None:
    ws = Workspace.open(sandbox.workspace)
    project = create_project(ws, "lab", description="Experiments")
    assert project.effective_settings(ws.settings) == ws.settings
    project.file.write_text("settings:\n  max_turns: 5\n  model: haiku\n")
    tuned = open_project(ws, "lab").effective_settings(ws.settings)
    assert (tuned.max_turns, tuned.model) == (5, "haiku")
    assert tuned.follower_min_rating == ws.settings.follower_min_rating
    for text, problem in (
        ("colour: blue\n", "unknown key(s) colour"),
        ("settings:\n  max_turns: lots\n", "max_turns"),
        ("settings:\n  initial_balance_usd: 9\n", "can only be set in config.yaml"),
        ("plugins: dates\n", "plugins must be a list"),
        ("policy:\n  allow: [x]\n", "unknown key(s) policy"),
        ("[1, 2\n", "cannot be read"),
    ):
        project.file.write_text(text)
        with pytest.raises(UsageError, match=problem.replace("(", r"\(").replace(")", r"\)")):
            open_project(ws, "lab")
    listed = run_llmos(sandbox, "project", "list", "--json")
    assert listed.returncode == 0  # a broken project.yaml is shown, never fatal to a listing
    (lab,) = json.loads(listed.stdout)["projects"]
    assert "cannot be read" in lab["problem"]


def test_the_projects_own_trace_comes_first_among_equal_matches(sandbox: Sandbox) -> None:
    ws = Workspace.open(sandbox.workspace)

    def copy(a: str, b: str, project: str) -> Trace:
        step = TraceStep("Bash", {"command": f"cp {a} {b}"})
        return Trace(
            goal_text=f"copy {a} to {b}",
            steps=(step,),
            project=project,
            slots=(Slot("file", a), Slot("file", b)),
        )

    with TraceLibrary(ws) as library:
        library.add(copy("a.txt", "b.txt", "web"))
        library.add(copy("c.txt", "d.txt", "default"))

        def ranked(project: str | None) -> list[tuple[str, str]]:
            found = library.find("copy x.txt to y.txt", project=project)
            return [(m.entry.project, m.kind) for m in found]

        # Both bind the goal through their template: the run's own project's comes first.
        assert ranked("web") == [("web", "template"), ("default", "template")]
        assert ranked("default") == [("default", "template"), ("web", "template")]
        # The kind of match comes first: another project's exact match beats the own template.
        library.add(copy("x.txt", "y.txt", "default"))
        assert ranked("web")[0] == ("default", "exact")


def test_a_config_from_before_matching_by_meaning_still_loads(tmp_path: Path) -> None:
    from llmos._internal.workspace import Settings

    settings = Settings.from_mapping(
        {"follower_threshold": 0.9, "max_turns": 7}, source=tmp_path / "config.yaml"
    )
    assert settings.max_turns == 7  # the retired key is ignored, the others apply
