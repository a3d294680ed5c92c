"""Every command block of README.md and GETTING_STARTED.md runs as written, in order, in a
fresh home folder, like a doctest: each ```bash block is run by bash from a copy of the
clone's layout (`.venv/bin/llmos`, `plugins/`), against the scripted model, whose answers
for the goals the guides give are below.

A block that cannot run here says so just before it: `<!-- not run: WHY -->` (it needs a
real key, a person at a terminal, or it installs llmos). A block expected to exit non-zero
says which status: `<!-- exit N: WHY -->`. Every fence names its language, so a command
block cannot hide as an untyped one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Sandbox

from llmos._internal.memory.trace import parse
from llmos._internal.testing.conversations import Conversations
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "GETTING_STARTED.md")
COMMAND_LANGUAGES = {"bash", "sh", "shell", "console"}
_MARK = re.compile(r"<!--\s*(not run|exit (\d+))\s*:\s*(.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    language: str
    code: str
    skip: str | None  # why it is not run
    exit_status: int


def blocks(doc: str) -> list[Block]:
    """The fenced blocks of `doc`, in order, with the mark (if any) just before each."""
    found: list[Block] = []
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if not line.startswith("```"):
            number += 1
            continue
        language = line[3:].strip()
        start = number
        number += 1
        body: list[str] = []
        while not lines[number].startswith("```"):
            body.append(lines[number])
            number += 1
        number += 1
        before = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        mark = _MARK.search(before)
        skip = mark.group(3) if mark and mark.group(1) == "not run" else None
        status = int(mark.group(2)) if mark and mark.group(2) else 0
        found.append(Block(doc, start + 1, language, "\n".join(body) + "\n", skip, status))
    return found


def test_every_fence_names_its_language() -> None:
    for doc in DOCS:
        untyped = [b.line for b in blocks(doc) if not b.language]
        assert not untyped, f"{doc}: fences without a language at lines {untyped}"


def _routes() -> Conversations:
    """The model's part in the guides' goals."""
    router = Conversations()
    router.on(
        "Create hello.py that prints a greeting, and run it",
        use_tool("Write", file_path="hello.py", content='print("Hello!")\n'),
        use_tool("Bash", command="python3 hello.py"),
        say("hello.py prints Hello!"),
    )
    counter = (
        "import pathlib\n"
        "for path in sorted(pathlib.Path('.').rglob('*.py')):\n"
        "    print(len(path.read_text().splitlines()), path)\n"
    )
    router.on(
        "Create a Python script that counts the lines of every .py file here, and run it",
        use_tool("Write", file_path="count_lines.py", content=counter),
        use_tool("Bash", command="python3 count_lines.py"),
        say("count_lines.py lists every .py file with its number of lines."),
    )
    router.on(
        "Write index.html with a heading and a contact link",
        use_tool(
            "Write",
            file_path="index.html",
            content='<h1>Welcome</h1>\n<a href="mailto:hi@example.com">Contact</a>\n',
        ),
        say("index.html has a heading and a contact link."),
    )
    router.on(
        "How many working days are there from 2026-12-01 to 2026-12-24?",
        use_tool("mcp__llmos_dates__business_days_between", start="2026-12-01", end="2026-12-24"),
        say("There are 17 working days."),
    )
    router.on(
        "copy notes.txt to backup.txt",
        use_tool("Bash", command="cp notes.txt backup.txt"),
        say("backup.txt is a copy of notes.txt."),
    )
    router.on(
        "Tidy the output folder",
        use_tool("Bash", command="ls"),
        say("The output folder is tidy."),
    )
    router.on(
        None,
        use_tool(
            "StructuredOutput",
            facts=[{"text": "Python scripts here run with python3.", "tags": ["python"]}],
        ),
        system="You are distilling the memory of llmos",
        name="distill",
    )
    router.on(
        None,
        use_tool(
            "StructuredOutput",
            description="Finds broken links in HTML files and reports them.",
            tools=["Read", "Grep", "Glob"],
            prompt="You check every link in the HTML files and report the broken ones.",
        ),
        system="You write agent definitions for llmos",
        name="agent draft",
    )
    _orchestration(router)
    return router


def _orchestration(router: Conversations) -> None:
    research = "Research how other command-line tools print a greeting"
    code = "Write greet.py with a --name option, and a test for it"
    readme = "Write README.md for greet.py"
    plan = [
        {
            "id": "research",
            "goal": research,
            "agent": "researcher",
            "depends_on": [],
            "budget_share": 0.2,
        },
        {"id": "code", "goal": code, "agent": "coder", "depends_on": [], "budget_share": 0.4},
        {
            "id": "readme",
            "goal": readme,
            "agent": "writer",
            "depends_on": ["research", "code"],
            "budget_share": 0.2,
        },
    ]
    router.on(None, use_tool("StructuredOutput", subtasks=plan), system="You are the planner")
    router.on(research, say("Most print 'Hello, NAME!' and take the name as an option."))
    router.on(
        code,
        use_tool(
            "Write",
            file_path="greet.py",
            content=(
                "import argparse\n\n"
                "parser = argparse.ArgumentParser()\n"
                "parser.add_argument('--name', default='world')\n"
                "print(f'Hello, {parser.parse_args().name}!')\n"
            ),
        ),
        say("greet.py is written."),
    )
    router.on(
        readme,
        use_tool(
            "Write", file_path="README.md", content="# greet\n\n`python3 greet.py --name X`\n"
        ),
        say("README.md is written."),
    )
    router.on(
        None,
        say("The greeting tool is shipped: greet.py and its README."),
        system="You write the final answer of an llmos orchestration",
    )


def _clone(sandbox: Sandbox) -> Path:
    """The layout the guides are run from: `.venv/bin/llmos` (this llmos), `plugins/`."""
    clone = sandbox.root / "clone"
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    llmos = bin_dir / "llmos"
    llmos.write_text(f"#!{sys.executable} -P\nfrom llmos._internal.cli import main\n\nmain()\n")
    llmos.chmod(0o755)
    shutil.copytree(ROOT / "plugins", clone / "plugins")
    return clone


def _environment(sandbox: Sandbox, server: ScriptedModelServer) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LLMOS_HOME", None)  # the guides' workspace is ~/.llmos, in the sandbox's home
    env.pop("COLUMNS", None)
    env.update(server.client_env(sandbox.claude_config))
    # `llmos` alone is not a command after the set-up: keep any that is on PATH out of it.
    path = [d for d in env.get("PATH", "").split(os.pathsep) if not (Path(d) / "llmos").exists()]
    env["PATH"] = os.pathsep.join(path)
    return env


def test_every_command_block_of_the_guides_runs_as_written(
    sandbox: Sandbox, scripted: ScriptedModelServer, record_property: pytest.RecordProperty
) -> None:
    router = _routes()
    scripted.respond(router)
    clone = _clone(sandbox)
    env = _environment(sandbox, scripted)
    ran, skipped, failures = [], [], []
    shown: dict[str, str] = {}  # what each block printed, by its first line
    for doc in DOCS:
        for block in blocks(doc):
            if block.language not in COMMAND_LANGUAGES:
                continue
            where = f"{doc}:{block.line}"
            if block.skip is not None:
                skipped.append(f"{where} ({block.skip})")
                continue
            proc = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            ran.append(where)
            shown[block.code.splitlines()[0]] = proc.stdout
            if proc.returncode != block.exit_status or "Traceback" in proc.stderr:
                failures.append(
                    f"{where}: exit {proc.returncode} (expected {block.exit_status})\n"
                    f"{block.code}--- stdout:\n{proc.stdout[-3000:]}\n--- stderr:\n"
                    f"{proc.stderr[-3000:]}"
                )
    summary = f"docs: {len(ran)} command blocks ran, {len(skipped)} not run: " + "; ".join(skipped)
    record_property("docs", summary)
    print(summary)
    assert not failures, "\n\n".join(failures)
    assert not scripted.errors, scripted.errors
    router.assert_complete()  # every goal the guides give reached the model as scripted
    # Installs, servers (the gateway, the kernel, the web console, MLflow), a person at a prompt.
    assert len(ran) >= 20 and len(skipped) <= 13, summary
    # The demo's closing hint names the command as it ran: from a clone, .venv/bin/llmos.
    demo = shown[".venv/bin/llmos demo --workspace ~/llmos-demo"]
    assert f"Try: .venv/bin/llmos status --workspace {sandbox.home / 'llmos-demo'}" in demo
    home = sandbox.home
    assert (home / ".llmos" / "projects" / "site" / "output" / "index.html").is_file()
    assert (home / "llmos-demo" / "projects" / "default" / "output" / "fib.py").is_file()
    copied = parse((home / "trace-copy.md").read_text(encoding="utf-8"))  # a trace file, whole
    assert copied.goal_text.startswith("Create a Python script that counts the lines")
