"""Agents: the file format, where agents come from (workspace, plugins, project), the
`llmos agents` commands, and agents reaching the model (as subagents of a Learner run, and
drafted by the model through structured output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.agents.catalog import load_catalog
from llmos._internal.agents.spec import (
    AgentFormatError,
    AgentSpec,
    make_spec,
    parse_agent,
    render_agent,
)
from llmos._internal.testing.conversations import Conversations
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool
from llmos._internal.workspace import Workspace, skeleton_dir

GOOD = """---
name: tester
description: Runs the test suite and reports failures.
tools: [Bash, Read]
model: haiku
max_turns: 7
---
You run the tests.
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_an_agent_file_parses_and_renders_back() -> None:
    spec = parse_agent(GOOD, path=Path("tester.md"), source="workspace")
    assert spec.name == "tester" and spec.tools == ("Bash", "Read")
    assert spec.model == "haiku" and spec.max_turns == 7 and spec.prompt == "You run the tests."
    again = parse_agent(render_agent(spec), path=spec.path, source=spec.source)
    assert again == spec
    # "inherit" is the absence of a model; a comma-separated tool list is a list.
    loose = parse_agent("---\nname: a\ndescription: d\ntools: Read, Grep\nmodel: inherit\n---\np")
    assert loose.model is None and loose.tools == ("Read", "Grep")
    assert parse_agent("---\nname: b\ndescription: d\n---\np").tool_list[0] == "Bash"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: a\n", "must start with YAML front matter"),
        ("---\nname: a\ndescription: d\np", "no closing '---'"),
        ("---\n[unclosed\n---\np", "not valid YAML"),
        ("---\n- a\n---\np", "must be a mapping"),
        ("---\ndescription: d\n---\np", "name is required"),
        ("---\nname: Bad Name\ndescription: d\n---\np", "invalid agent name"),
        ("---\nname: a\n---\np", "description is required"),
        ("---\nname: a\ndescription: d\n---\n  \n", "system prompt"),
        (
            "---\nname: a\ndescription: d\ntools: [Bash, Teleport]\n---\np",
            "unknown tool(s) Teleport",
        ),
        ("---\nname: a\ndescription: d\ncolour: red\n---\np", "unknown key(s) colour"),
        ("---\nname: a\ndescription: d\nmax_turns: 0\n---\np", "max_turns must be"),
        ("---\nname: a\ndescription: d\nmodel: two words\n---\np", "model must be"),
    ],
)
def test_invalid_agent_files_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(AgentFormatError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_agent(text)


def test_the_shipped_examples_are_valid_agents() -> None:
    catalog = load_catalog(Workspace(skeleton_dir()), plugin_agents=[])
    assert catalog.problems == ()
    assert {"researcher", "coder", "reviewer", "writer"} <= set(catalog.names())
    # Read-only roles get no tool that edits files.
    for name in ("researcher", "reviewer"):
        assert not {"Write", "Edit"} & set(catalog.require(name).tool_list)


def test_catalog_layers_project_over_workspace_over_plugins_and_skips_bad_files(
    sandbox: Sandbox,
) -> None:
    ws = Workspace.open(sandbox.workspace)
    agents = ws.root / "agents"
    _write(agents, "tester.md", GOOD)
    broken = _write(agents, "broken.md", "---\nname: x\n---\nno description\n")
    _write(agents, "readme.md", "# not an agent")
    twin = _write(agents, "zz-tester.md", GOOD)  # the same name twice in one folder
    project_agents = ws.project_dir("site") / "components"
    _write(project_agents, "tester.md", GOOD.replace("Runs the test suite", "Project tests"))
    plugin = make_spec(name="coder", description="A plugin's coder", prompt="p", source="plugin x")
    shadowed = make_spec(name="linter", description="A plugin's linter", prompt="p")

    plain = load_catalog(ws, plugin_agents=[plugin, shadowed])
    assert plain.require("tester").description.startswith("Runs the test suite")
    assert plain.require("coder").source == "workspace"  # the workspace file wins
    assert plain.require("linter").description == "A plugin's linter"
    problems = {p.path: p.problem for p in plain.problems}
    assert set(problems) == {broken, twin}
    assert "description is required" in problems[broken]
    assert "already defined by" in problems[twin]

    in_site = load_catalog(ws, "site", plugin_agents=[])
    assert in_site.require("tester").description == "Project tests and reports failures."
    assert in_site.require("tester").source == "project site"


def test_agents_commands_list_show_and_create(sandbox: Sandbox) -> None:
    listed = json.loads(run_llmos(sandbox, "agents", "list", "--json").stdout)
    names = [a["name"] for a in listed["agents"]]
    assert names == ["coder", "researcher", "reviewer", "writer"] and listed["problems"] == []

    created = run_llmos(
        sandbox,
        "agents",
        "create",
        "tester",
        "--description",
        "Runs the tests",
        "--prompt",
        "You run the tests and report.",
        "--tools",
        "Bash,Read",
        "--model",
        "haiku",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    path = sandbox.workspace / "agents" / "tester.md"
    assert json.loads(created.stdout)["path"] == str(path)
    spec = parse_agent(path.read_text())
    assert spec == AgentSpec(
        "tester", "Runs the tests", "You run the tests and report.", ("Bash", "Read"), "haiku"
    )
    shown = json.loads(run_llmos(sandbox, "agents", "show", "tester", "--json").stdout)
    assert shown["prompt"] == "You run the tests and report." and shown["source"] == "workspace"

    again = run_llmos(sandbox, "agents", "create", "tester", "--description", "x", "--prompt", "y")
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    bad_tool = run_llmos(
        sandbox, "agents", "create", "t2", "--description", "x", "--prompt", "y", "--tools", "Fly"
    )
    assert bad_tool.returncode == 2 and "unknown tool(s) Fly" in bad_tool.stderr
    missing = run_llmos(sandbox, "agents", "create", "t3")
    assert missing.returncode == 2 and "--describe" in missing.stderr
    unknown = run_llmos(sandbox, "agents", "show", "nobody")
    assert unknown.returncode == 2 and "no agent named 'nobody'" in unknown.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr + bad_tool.stderr

    # An invalid file is listed as skipped, with its path and the problem.
    (sandbox.workspace / "agents" / "bad.md").write_text("---\nname: bad\n---\nbody\n")
    listed = run_llmos(sandbox, "agents", "list")  # the list on stdout, what was skipped on stderr
    assert "coder" in listed.stdout and "bad.md" not in listed.stdout
    warned = listed.stderr
    assert "skipped" in warned and "bad.md" in warned and "description is required" in warned


def test_agents_create_describe_lets_the_model_draft_it(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    draft = {
        "description": "Checks links in HTML files and reports broken ones.",
        "tools": ["Read", "Grep", "Bash"],
        "prompt": "You are a link checker. Report every broken link with its file.",
    }
    scripted.script(use_tool("StructuredOutput", **draft))
    proc = run_llmos(
        sandbox,
        "agents",
        "create",
        "linkcheck",
        "--describe",
        "something that finds broken links in my site",
        "--tools",
        "Read,Grep",  # a flag overrides the draft
        "--budget",
        "0.05",
        "--model",
        MODEL,
        "--json",
        server=scripted,
    )
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    (request,) = scripted.message_requests
    assert request.tool_names == ["StructuredOutput"]  # the schema is the only tool
    schema = request.body["tools"][0]["input_schema"]
    assert schema["required"] == ["description", "tools", "prompt"]
    assert "finds broken links" in json.dumps(request.body["messages"])
    spec = parse_agent((sandbox.workspace / "agents" / "linkcheck.md").read_text())
    assert spec.description == draft["description"] and spec.prompt == draft["prompt"]
    assert spec.tools == ("Read", "Grep")
    out = json.loads(proc.stdout)
    assert out["draft_cost_usd"] > 0
    status = json.loads(run_llmos(sandbox, "budget", "--json").stdout)
    assert status["balance_usd"] < 5.0  # the draft was charged


def test_learner_runs_offer_the_agents_as_subagents(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    router = Conversations()
    router.on(
        "Review notes.md",
        use_tool(
            "Agent",
            description="Review",
            prompt="Check notes.md for typos",
            subagent_type="reviewer",
        ),
        say("The reviewer found no typos."),
    )
    router.on("Check notes.md for typos", use_tool("Read", file_path="notes.md"), say("No typos."))
    scripted.respond(router)
    sandbox.output.mkdir(parents=True, exist_ok=True)
    (sandbox.output / "notes.md").write_text("hello\n")
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "Review notes.md", server=scripted)
    assert proc.returncode == 0, proc.stderr
    router.assert_complete()
    first, sub, _sub2, _last = scripted.message_requests
    listed = json.dumps(first.body)
    assert "Available agent types" in listed
    for name in ("coder", "researcher", "reviewer", "writer"):
        assert f"- {name}: " in listed
    # The subagent ran with the reviewer's own prompt and only its tools.
    assert "You are a careful reviewer" in sub.system_text
    assert sorted(sub.tool_names) == ["Bash", "Glob", "Grep", "Read"]
