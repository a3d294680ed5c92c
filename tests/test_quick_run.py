"""`llmos run` command lines read without typer (llmos/_internal/cli/quick_run.py) must mean
what typer reads them as: every command line the quick reader takes, typer takes too, as
the same options. What it does not take, typer reads (and reports)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
import typer

from llmos._internal.cli.quick_run import read_run
from llmos._internal.cli.run import run
from llmos._internal.cli.run_goal import RunOptions

# Words a command line is made of: goals, every form of the options the quick reader knows,
# options it leaves to typer, and words that look like options.
WORDS = [
    "write notes.txt",
    "",
    "-x",
    "-",
    "--json",
    "--yes",
    "-y",
    "--dry-run",
    "-m",
    "--mode",
    "learner",
    "bogus",
    "-p",
    "--project",
    "web",
    "--model",
    "-t",
    "--trace",
    "--",
    "--help",
    "-h",
    "--project=web",
    "-yp",
    "--budget",
    "0.5",
    "--timeout",
    "-w",
    "--workspace",
]

COMMON = [
    ["write notes.txt"],
    ["--json", "write notes.txt"],
    ["write notes.txt", "--json"],
    ["-y", "write notes.txt"],
    ["--yes", "--json", "write notes.txt"],
    ["-p", "web", "write notes.txt"],
    ["--project", "web", "--json", "write notes.txt"],
    ["--mode", "follower", "write notes.txt"],
    ["-m", "learner", "--model", "claude-sonnet-4-5", "write notes.txt"],
    ["--trace", "f6828", "write notes.txt"],
    ["--dry-run", "write notes.txt"],
    [""],
]


def _typer_reads(args: list[str]) -> RunOptions | None:
    """The options typer reads from `llmos run ARGS`, or None when it refuses them."""
    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h"]})
    app.command("run")(run)
    command = typer.main.get_command(app)
    try:
        ctx = command.make_context("run", list(args))
    except (Exception, SystemExit):  # a usage error, --help
        return None
    params: dict[str, Any] = ctx.params
    return RunOptions(
        goal=params["goal"],
        mode=params["mode"],
        project=params["project"],
        budget=params["budget"],
        model=params["model"],
        max_turns=params["max_turns"],
        timeout=params["timeout"],
        trace=params["trace"],
        parallel=params["parallel"],
        dry_run=params["dry_run"],
        yes=params["yes"],
        approve_via=params["approve_via"],
        as_json=params["as_json"],
        workspace=params["workspace"],
    )


@pytest.mark.parametrize("args", COMMON, ids=lambda a: " ".join(a) or "empty goal")
def test_the_common_command_lines_are_read_without_typer(args: list[str]) -> None:
    quick = read_run(args)
    assert quick is not None
    assert quick == _typer_reads(args)


def _command_lines() -> list[list[str]]:
    short = [list(c) for n in range(1, 4) for c in itertools.product(WORDS, repeat=n)]
    rng = random.Random(13)
    longer = [rng.choices(WORDS, k=rng.randint(4, 7)) for _ in range(3000)]
    return short + longer


def test_every_command_line_read_quickly_means_what_typer_reads() -> None:
    read = 0
    for args in _command_lines():
        quick = read_run(args)
        if quick is None:
            continue
        read += 1
        assert quick == _typer_reads(args), args
    assert read > 300  # the reader takes many forms, not only the ones listed above
