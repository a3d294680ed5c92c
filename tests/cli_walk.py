"""The command table walked: every `llmos` command, found from
`llmos._internal.cli.app.COMMANDS`, with arguments it succeeds with in the workspace
`populate` makes. Convention tests run them all, so a new command is checked as soon as it
is in the table (and they fail, naming it, until it has an entry in SAMPLE)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Sandbox, run_llmos

from llmos._internal.memory.goal_form import goal_signature
from llmos._internal.memory.trace import Trace, TraceStep, render

Path_ = tuple[str, ...]

GOAL = "Write hello.txt with a greeting"

# Commands without --json, and why.
NO_JSON: dict[Path_, str] = {
    ("demo",): "a guided tour that prints as it goes, not a report",
    ("interactive",): "a prompt for a person at a terminal",
}
# Commands whose --json is a stream: one JSON object per line, per event.
STREAMS = {("kernel", "start")}
# Commands the walks cannot run to completion (a server that runs until stopped), and why.
# They are still checked for --json, for JSON errors and for --project; give them a SAMPLE
# too (what `--project nope` is tried with).
NOT_RUN: dict[Path_, str] = {
    ("gateway",): "a server that runs until stopped (tests/test_gateway_cli_e2e.py runs it)",
    ("gateway", "save"): "needs a conversation a running gateway served (test_gateway_cli_e2e)",
}


def runnable(words: Path_) -> bool:
    """Whether the walks run `llmos WORDS` with its sample arguments and --json."""
    return words not in NO_JSON and words not in NOT_RUN


# Arguments each command succeeds with in the populated workspace, in an order that works
# (the ones that remove come last). {placeholders} are filled by `populate`.
SAMPLE: dict[Path_, list[str]] = {
    ("status",): [],
    ("init",): ["{tmp}/another-workspace"],
    ("doctor",): [],
    ("budget",): [],
    ("budget", "set"): ["7"],
    ("budget", "add"): ["1"],
    ("budget", "clear"): ["--project", "site"],
    ("run",): ["{goal}"],
    ("traces", "list"): [],
    ("traces", "show"): ["{trace}"],
    ("traces", "alias"): ["{trace}", "Create hello.txt with a greeting"],
    ("traces", "aliases"): [],
    ("traces", "export"): ["{tmp}/exported"],
    ("traces", "import"): ["{tmp}/exported"],
    ("traces", "trust"): ["{trace}", "--yes"],
    ("traces", "untrust"): ["{trace}"],
    ("traces", "keys"): [],
    ("traces", "keys", "add"): ["{ws}/state/signing_key.pub", "--name", "me"],
    ("gateway",): [],
    ("gateway", "sessions"): [],
    ("gateway", "save"): ["no-such-conversation"],
    ("gateway", "keys", "add"): ["ci", "--budget", "1"],
    ("gateway", "keys", "list"): [],
    ("gateway", "keys", "budget"): ["ci", "2"],
    ("traces", "reindex"): [],
    ("undo",): ["--dry-run"],
    ("schedule", "add"): ["--at", "2099-01-01T09:00", "Tidy the output folder"],
    ("schedule", "list"): [],
    ("schedule", "pause"): ["{job}"],
    ("schedule", "resume"): ["{job}"],
    ("kernel", "status"): [],
    ("kernel", "start"): ["--once"],
    ("console",): ["--check", "--port", "0"],
    ("sessions", "list"): [],
    ("sessions", "show"): ["{run}"],
    ("sessions", "verify"): [],
    ("sessions", "export"): ["--all", "--otlp", "--dry-run"],
    ("memory", "add"): ["Hello files are plain text"],
    ("memory", "search"): ["greeting"],
    ("memory", "list"): [],
    ("memory", "show"): ["{fact}"],
    ("memory", "reindex"): [],
    ("memory", "distill"): ["--budget", "0.1"],  # no insight yet: nothing to distill, no model
    ("insights",): [],
    ("project", "create"): ["lab"],
    ("project", "list"): [],
    ("project", "show"): ["site"],
    ("plugins", "list"): [],
    ("agents", "list"): [],
    ("agents", "show"): ["coder"],
    ("agents", "create"): ["tester", "--description", "Runs tests", "--prompt", "Run the tests."],
    ("policy", "show"): [],
    ("policy", "check"): ["ls"],
    ("policy", "audit"): [],
    ("traces", "unalias"): ["{trace}", "Create hello.txt with a greeting", "--yes"],
    ("schedule", "rm"): ["{job}", "--yes"],
    ("memory", "rm"): ["{fact}", "--yes"],
    ("project", "rm"): ["lab", "--yes"],
    ("traces", "rm"): ["{trace}", "--yes"],
    ("traces", "keys", "rm"): ["{key}", "--yes"],
    ("gateway", "keys", "rm"): ["old", "--yes"],
    ("demo",): ["--workspace", "{tmp}/demo"],
    ("interactive",): [],
}


def all_commands() -> dict[Path_, Any]:
    """Every command a user can run, by its words (`("traces", "show")`): the leaves of the
    command table, and groups that run on their own (`llmos budget`)."""
    import click
    import typer

    from llmos._internal.cli.app import COMMANDS, app

    root = typer.main.get_command(app)
    ctx = click.Context(root)
    found: dict[Path_, Any] = {}

    def walk(command: Any, words: Path_) -> None:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            found[words] = command
            return
        if getattr(command, "invoke_without_command", False):
            found[words] = command
        for name, sub in subcommands.items():
            walk(sub, (*words, name))

    for name in COMMANDS:
        walk(root.get_command(ctx, name), (name,))
    return found


def options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def sample(words: Path_, values: dict[str, str]) -> list[str]:
    """The sample arguments of a command, placeholders filled; a clear failure when the
    command has none yet."""
    assert words in SAMPLE, (
        f"`llmos {' '.join(words)}` has no sample arguments: add it to SAMPLE in "
        "tests/cli_walk.py so the convention tests check it"
    )
    return [arg.format(**values) for arg in SAMPLE[words]]


def populate(sandbox: Sandbox) -> dict[str, str]:
    """A workspace with one of everything: a trace (written as a file, then replayed: a run,
    its session log and undo record), a project `site` with a budget, a fact, a job.
    Returns the placeholder values of SAMPLE."""
    ok = _ok
    ok(run_llmos(sandbox, "status"))
    trace = Trace(
        goal_text=GOAL,
        steps=(TraceStep("Bash", {"command": "echo hello > hello.txt"}),),
        result="Wrote hello.txt.",
    )
    signature = goal_signature(GOAL)
    (sandbox.traces / f"{signature}.md").write_text(render(trace), encoding="utf-8")
    run = json.loads(ok(run_llmos(sandbox, "run", "--json", GOAL)).stdout)
    assert run["mode"] == "follower", run
    ok(run_llmos(sandbox, "project", "create", "site", "-d", "The web site"))
    ok(run_llmos(sandbox, "budget", "set", "--project", "site", "2"))
    fact = json.loads(
        ok(run_llmos(sandbox, "memory", "add", "--json", "Greetings are short")).stdout
    )
    job = json.loads(
        ok(
            run_llmos(sandbox, "schedule", "add", "--json", "--every", "2h", "Check the links")
        ).stdout
    )
    return {
        "goal": GOAL,
        "trace": signature,
        "run": run["run_id"],
        "fact": fact["id"],
        "job": job["id"],
        "tmp": str(sandbox.root),
        "ws": str(sandbox.workspace),
        "key": _own_key_id(sandbox),
    }


def _own_key_id(sandbox: Sandbox) -> str:
    """The id of the workspace's own signing key (made here by an export): what `traces keys
    add` trusts and `traces keys rm` removes in the walk."""
    ok = _ok
    ok(run_llmos(sandbox, "traces", "export", str(sandbox.root / "key-export")))
    public_key = sandbox.workspace / "state" / "signing_key.pub"
    ok(run_llmos(sandbox, "traces", "keys", "add", str(public_key)))  # for `keys rm` to find
    ok(run_llmos(sandbox, "gateway", "keys", "add", "old"))  # for `gateway keys rm`
    from llmos._internal.security.signing import read_public_key

    return read_public_key(str(public_key)).key_id


def _ok(proc: Any) -> Any:
    assert proc.returncode == 0, (proc.args, proc.stdout, proc.stderr)
    return proc


def json_objects(text: str, *, stream: bool) -> list[Any]:
    """What stdout holds: one JSON value, or (a stream) one per line."""
    if stream:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
