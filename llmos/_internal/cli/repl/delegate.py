"""Slash commands that are `llmos` commands: run in this process, through the same command
table as the command line (`llmos._internal.cli.app.COMMANDS`), so `/schedule add ...`
parses, checks and prints exactly as `llmos schedule add ...` does.

A command whose module is not part of this build (a feature still to land) is reported as
not available instead of failing.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import typer

from llmos._internal.errors import UsageError
from llmos._internal.workspace import Workspace

_HELP = ("--help", "-h")


class FeatureUnavailable(UsageError):
    """The feature behind a slash command is not in this build of llmos."""


def cli_target(name: str) -> Any:
    """What `llmos NAME` runs (a function, or a typer app for a command group);
    `FeatureUnavailable` when this build has no such command."""
    from llmos._internal.cli.app import COMMANDS

    entry = COMMANDS.get(name)
    if entry is None:
        raise _unavailable(name)
    module_name, attribute = entry.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise _unavailable(name) from exc
        raise
    found = getattr(module, attribute, None)
    if found is None:
        raise _unavailable(name)
    return found


def subcommands(name: str) -> list[str]:
    """The subcommands of `llmos NAME` ([] for a plain command or one not installed)."""
    try:
        target = cli_target(name)
    except UsageError:
        return []
    if not isinstance(target, typer.Typer):
        return []
    group = typer.main.get_command(target)
    list_commands = getattr(group, "list_commands", None)
    return list(list_commands(typer.Context(group))) if list_commands else []


def is_available(name: str) -> bool:
    try:
        cli_target(name)
    except UsageError:
        return False
    return True


def _unavailable(name: str) -> FeatureUnavailable:
    return FeatureUnavailable(
        f"/{name} is not available yet: this build of llmos has no `llmos {name}` command",
        hint="It comes with the feature that adds that command; /help lists what works now.",
    )


def command_args(ws: Workspace, name: str, args: Sequence[str]) -> list[str]:
    """`llmos NAME ARGS` for the session's workspace (given as --workspace unless the user
    gave one, or asked for help, which takes no workspace)."""
    argv = [name, *args]
    asked_help = any(arg in _HELP for arg in args)
    chose = any(arg == "--workspace" or arg.startswith("--workspace=") for arg in args)
    if not asked_help and not chose:
        argv += ["--workspace", str(ws.root)]
    return argv


async def run_cli(ws: Workspace, name: str, args: Sequence[str]) -> int:
    """Run `llmos NAME ARGS` in this process; returns its exit status.

    It runs in a worker thread: some commands run an event loop of their own (asking the
    model), which cannot nest inside the REPL's. Usage errors are printed as the command line
    prints them (`llmos._internal.cli.dispatch`); `LlmosError`s propagate, for the REPL to show.
    """
    cli_target(name)  # FeatureUnavailable before anything runs
    from llmos._internal.cli import dispatch

    argv = command_args(ws, name, args)

    # The command's own rich Console cannot see the terminal through the prompt's output
    # proxy and would wrap at 80 columns; tell it the real width.
    terminal = sys.__stdout__  # the real terminal, under the prompt's proxy
    try:
        width = os.get_terminal_size(terminal.fileno()).columns if terminal else 0
    except (OSError, ValueError):
        width = 0
    width = width or shutil.get_terminal_size(fallback=(100, 24)).columns
    os.environ["COLUMNS"] = str(width)

    def call() -> int:
        try:
            return dispatch(argv)
        except SystemExit as exit_:
            code = exit_.code
            return code if isinstance(code, int) else (0 if code is None else 1)

    return await asyncio.to_thread(call)
