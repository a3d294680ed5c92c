"""`llmos run` command lines read without typer (llmos/_internal/cli/quick_run.py) must mean
what typer reads them as: every command line the quick reader takes, typer takes too, as
the same options. What it does not take, typer reads (and reports)."""

from __future__ import annotations

import contextlib
import io
import itertools
import random
from pathlib import Path
from unittest import mock

import pytest
import typer

from llmos._internal.cli import run as run_command
from llmos._internal.cli.quick_run import read_run
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
    "-b",
    "--budget",
    "--timeout",
    "--max-turns",
    "--parallel",
    "--approve-via",
    "console",
    "-w",
    "--workspace",
    "0.5",
    "0",
    "0.00001",
    "17",
    " 3",
    "3.0",
    "1_0",
    "1e3",
    "inf",
    "nan",
    str(Path(__file__)),  # a file: not a workspace folder
    str(Path(__file__).parent),  # a folder
]

_APP = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
_APP.command("run")(run_command.run)
_COMMAND = typer.main.get_command(_APP)

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
    ["--timeout", "30", "--budget", "0.5", "write notes.txt"],
    ["-w", "/tmp/a workspace", "--max-turns", "5", "--parallel", "2", "write notes.txt"],
    ["--approve-via", "console", "write notes.txt"],
    [""],
]


def _typer_reads(args: list[str]) -> RunOptions | None:
    """The options `llmos run ARGS` gets when typer reads it (its conversions and checks
    included), or None when typer refuses the command line."""
    got: list[RunOptions] = []

    def capture(options: RunOptions) -> int:
        got.append(options)
        return 0

    with (
        mock.patch.object(run_command, "run_goal", capture),
        contextlib.redirect_stdout(io.StringIO()),  # --help
        contextlib.redirect_stderr(io.StringIO()),
    ):
        try:
            _COMMAND.main(args=list(args), prog_name="run", standalone_mode=False)
        except (Exception, SystemExit):  # a usage error
            return None
    return got[0] if got else None


@pytest.mark.parametrize("args", COMMON, ids=lambda a: " ".join(a) or "empty goal")
def test_the_common_command_lines_are_read_without_typer(args: list[str]) -> None:
    quick = read_run(args)
    assert quick is not None
    assert quick == _typer_reads(args)


def _command_lines() -> list[list[str]]:
    short = [list(c) for n in range(1, 3) for c in itertools.product(WORDS, repeat=n)]
    rng = random.Random(13)
    longer = [rng.choices(WORDS, k=rng.randint(3, 7)) for _ in range(20000)]
    # Each option and its value, after a goal, in turn: every reading of every value.
    pairs = [["write notes.txt", o, v] for o in WORDS if o.startswith("-") for v in WORDS]
    return short + longer + pairs


def test_every_command_line_read_quickly_means_what_typer_reads() -> None:
    read = 0
    for args in _command_lines():
        quick = read_run(args)
        if quick is None:
            continue
        read += 1
        assert quick == _typer_reads(args), args
    assert read > 300  # the reader takes many forms, not only the ones listed above
