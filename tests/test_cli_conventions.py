"""The command line's conventions, checked on every command of the command table
(`llmos._internal.cli.app.COMMANDS`, walked by tests/cli_walk.py): --json and its shape, JSON
errors, --project, confirmation before removing, and the small things users of gh and llm expect
(--version, "Did you mean", negative numbers, the final text printed once)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from typing import Any

import pytest
from cli_walk import (
    NO_JSON,
    SAMPLE,
    STREAMS,
    all_commands,
    json_objects,
    options,
    populate,
    runnable,
    sample,
)
from conftest import MODEL, Sandbox, run_in_terminal, run_llmos

from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

# Words that name a record where a reference to it must be `<kind>_id`, and the old names
# of fields that are `id` now: none may appear in any --json output.
RETIRED_KEYS = {"signature", "goal_signature", "trace"}
# Commands that list records: their JSON names the list and counts it.
LISTINGS = {"list", "search", "aliases", "audit", "verify", "export", "import"}


def _words(words: tuple[str, ...]) -> str:
    return "llmos " + " ".join(words)


def test_every_command_has_sample_arguments_and_json() -> None:
    commands = all_commands()
    missing = [_words(w) for w in commands if w not in SAMPLE]
    assert not missing, f"add these to SAMPLE in tests/cli_walk.py: {missing}"
    stale = [_words(w) for w in SAMPLE if w not in commands]
    assert not stale, f"no such commands (remove from SAMPLE): {stale}"
    without = [
        _words(w) for w, c in commands.items() if w not in NO_JSON and "--json" not in options(c)
    ]
    assert not without, f"every command that reports takes --json: {without}"


def _convention_problems(words: tuple[str, ...], value: Any) -> list[str]:
    """What in one command's JSON output breaks the convention (README, "JSON output")."""
    problems: list[str] = []
    where = _words(words)
    if not isinstance(value, dict):
        return [f"{where}: prints a {type(value).__name__}, not an object"]
    if words[-1] in LISTINGS or "count" in value:
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if "count" not in value:
            problems.append(f"{where}: a listing without a count")
        elif not any(len(value[k]) == value["count"] for k in lists):
            problems.append(f"{where}: count {value.get('count')} is the length of no list")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if path.endswith(".timeline[]"):  # session-log events, as the log holds them
                return
            for key, item in node.items():
                if key in RETIRED_KEYS and not isinstance(item, dict | list | bool):
                    problems.append(f"{where}: {path}.{key} (an id is `id`, or `<kind>_id`)")
                walk(item, f"{path}.{key}")
            if "goal_text" in node and "usage_count" in node and "id" not in node:
                problems.append(f"{where}: a trace at {path} without its `id`")
        elif isinstance(node, list):
            for item in node:
                walk(item, f"{path}[]")

    walk(value, "")
    return problems


def test_every_json_output_follows_the_convention(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    problems: list[str] = []
    ran = 0
    for words in SAMPLE:
        if not runnable(words):
            continue
        args = [*words, *sample(words, values), "--json"]
        proc = run_llmos(sandbox, *args, stdin="")
        if proc.returncode != 0:
            problems.append(f"{_words(words)}: exit {proc.returncode}: {proc.stdout} {proc.stderr}")
            continue
        try:
            outputs = json_objects(proc.stdout, stream=words in STREAMS)
        except ValueError as exc:
            problems.append(f"{_words(words)}: stdout is not JSON ({exc}): {proc.stdout[:200]!r}")
            continue
        for output in outputs:
            problems += _convention_problems(words, output)
        ran += 1
    assert not problems, "\n".join(problems)
    assert ran == sum(1 for words in SAMPLE if runnable(words))


def test_every_error_under_json_is_json_on_stdout(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmos._internal.cli import dispatch

    for words in all_commands():
        code = dispatch([*words, "--no-such-option", "--json"])
        out, err = capsys.readouterr()
        assert code == 2, (words, out, err)
        error = json.loads(out)
        assert set(error) == {"error", "hint", "exit_code"}, (words, error)
        assert error["exit_code"] == 2 and "--no-such-option" in error["error"], (words, error)
        assert err == "", (words, err)
    # An error of the command itself (not the parser's) too, with its own exit status.
    proc = run_llmos(sandbox, "traces", "show", "abc", "--json")
    assert proc.returncode == 2 and proc.stderr == ""
    assert json.loads(proc.stdout) == {
        "error": "no trace has the id abc",
        "hint": json.loads(proc.stdout)["hint"],
        "exit_code": 2,
    }


def test_every_project_option_refuses_a_project_that_does_not_exist(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    checked = []
    for words, command in all_commands().items():
        if "--project" not in options(command):
            continue
        args = sample(words, values)
        if "--project" in args:  # `budget clear --project site`: the option is required
            at = args.index("--project")
            del args[at : at + 2]
        argv = [*words, *args, "--project", "nope"]
        if words in NO_JSON:
            proc = run_llmos(sandbox, *argv)
            message = proc.stderr
        else:
            proc = run_llmos(sandbox, *argv, "--json")
            message = json.loads(proc.stdout)["error"] if proc.stdout else proc.stderr
        assert proc.returncode == 2, (words, proc.stdout, proc.stderr)
        assert "no project named 'nope'" in message, (words, message)
        checked.append(words)
    assert not (sandbox.workspace / "projects" / "nope").exists()  # nothing made on the way
    assert len(checked) >= 15  # run, traces, memory, schedule, agents, budget, policy, ...


def test_every_rm_asks_and_with_no_terminal_needs_yes(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    commands = all_commands()
    removing = [w for w in commands if w[-1] in ("rm", "unalias")] + [("undo",)]
    assert {("traces", "rm"), ("memory", "rm"), ("schedule", "rm"), ("project", "rm")} <= set(
        removing
    )
    run_llmos(sandbox, "project", "create", "lab")
    run_llmos(sandbox, "traces", "alias", values["trace"], "Create hello.txt with a greeting")
    for words in removing:
        assert "--yes" in options(commands[words]), f"{_words(words)} takes no --yes"
        args = [a for a in sample(words, values) if a not in ("--yes", "--dry-run")]
        proc = run_llmos(sandbox, *words, *args, stdin="y\n")  # stdin is no terminal
        assert proc.returncode == 2, (words, proc.stdout, proc.stderr)
        assert "no terminal to ask" in proc.stderr and "--yes" in proc.stderr, words
        # Nothing was removed: with --yes the same command still finds what it removes.
        done = run_llmos(sandbox, *words, *args, "--yes")
        assert done.returncode == 0, (words, done.stdout, done.stderr)


def test_schedule_rm_asks_at_a_terminal(sandbox: Sandbox) -> None:
    job = json.loads(
        run_llmos(sandbox, "schedule", "add", "--json", "--every", "1h", "Tidy up").stdout
    )
    status, shown = run_in_terminal(
        sandbox, "schedule", "rm", job["id"], answers=[(r"Remove job .*\?", "n")]
    )
    assert status == 1 and "nothing done" in shown
    assert len(json.loads(run_llmos(sandbox, "schedule", "list", "--json").stdout)["jobs"]) == 1
    status, shown = run_in_terminal(
        sandbox, "schedule", "rm", job["id"][:6], answers=[(r"Remove job .*\?", "y")]
    )
    assert status == 0 and f"removed job {job['id']}" in shown
    assert json.loads(run_llmos(sandbox, "schedule", "list", "--json").stdout)["count"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["budget", "set", "-5"], "USD must be a number >= 0, not -5"),
        (["budget", "add", "-0.5"], "USD must be a number >= 0, not -0.5"),
        (["budget", "set", "--project", "site", "-2"], "USD must be a number >= 0, not -2"),
        (["run", "--budget", "-1", "x"], "--budget"),
        (["run", "--max-turns", "-3", "x"], "--max-turns"),
    ],
)
def test_negative_numbers_get_a_clear_message(
    sandbox: Sandbox, args: list[str], message: str
) -> None:
    proc = run_llmos(sandbox, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "No such option" not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["statuss"], "Did you mean 'status'?"),
        (["trace", "list"], "Did you mean 'traces'?"),
        (["schedul", "list"], "Did you mean 'schedule'?"),
        (["traces", "lst"], "Did you mean 'list'?"),
    ],
)
def test_a_mistyped_command_gets_a_suggestion(
    sandbox: Sandbox, args: list[str], suggestion: str
) -> None:
    proc = run_llmos(sandbox, *args)
    assert proc.returncode == 2 and suggestion in proc.stderr, proc.stderr
    as_json = run_llmos(sandbox, *args, "--json")
    assert suggestion in json.loads(as_json.stdout)["error"]


def test_version_names_llmos_the_sdk_and_its_cli(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "--version")
    assert proc.returncode == 0, proc.stderr
    sdk = importlib.metadata.version("claude-agent-sdk")
    assert f"llmos {importlib.metadata.version('llmos')}" in proc.stdout
    assert f"claude-agent-sdk {sdk}" in proc.stdout
    found = json.loads(run_llmos(sandbox, "--version", "--json").stdout)
    assert found["claude_agent_sdk"] == sdk and found["llmos"]
    import claude_agent_sdk._cli_version as cli  # the test may import it; --version may not

    assert found["claude_code_cli"] == cli.__cli_version__
    assert f"claude code cli {cli.__cli_version__}" in proc.stdout
    code = (
        "import sys\nsys.argv = ['llmos', '--version']\nfrom llmos._internal.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'claude_agent_sdk', 'anthropic', 'asyncio'})\nassert not heavy, heavy\n"
    )
    checked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_final_text_is_printed_once(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    answer = "The greeting is in hello.txt (marker 7f3a)."
    scripted.script(use_tool("Bash", command="echo hi > hello.txt"), say(answer))
    proc = run_llmos(sandbox, "run", "--model", MODEL, "Write a greeting", server=scripted)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("marker 7f3a") == 1, proc.stdout
    # A replay has no agent to say it: its result is printed, once.
    replay = run_llmos(sandbox, "run", "Write a greeting")
    assert "follower" in replay.stdout and replay.stdout.count("Replayed the steps") <= 1
