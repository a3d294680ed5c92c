"""`llmos interactive`: a prompt for goals and slash commands (llmos/_internal/cli/repl/)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import ModelOption, WorkspaceOption, finite, require_project
from llmos._internal.errors import UsageError

_MODES = ("auto", "learner", "follower", "orchestrator")


def interactive(
    project: Annotated[
        str, typer.Option("--project", "-p", help="Project the goals run in (/project changes it).")
    ] = "default",
    mode: Annotated[
        str, typer.Option("--mode", "-m", help="auto, learner, follower or orchestrator (/mode).")
    ] = "auto",
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            "-b",
            help="Most each goal may spend, in USD (/budget).",
            min=0.0001,
            callback=finite,
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    continue_: Annotated[
        bool,
        typer.Option(
            "--continue",
            help="Goals continue one agent conversation (/continue); else each is new.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Work with llmos at a prompt: each line is a goal, /commands manage the OS.

    A goal runs as `llmos run` runs it. Slash commands: /mode, /project, /budget, /continue,
    /new, /traces, /show ID, /memory, /agents, /schedule, /sessions, /status, /help, /exit,
    and every other llmos command (/policy, /insights, ...). Tab completes them, trace ids and
    project names; Alt-Enter (or a line ending in a backslash) starts a new line.

    Ctrl-C interrupts the goal that runs (the agent is stopped and the run recorded) and
    returns to the prompt; Ctrl-D leaves. Calls the security policy will not decide alone
    are put to you inline: approve, modify or reject. History: state/repl_history.
    """
    if mode not in _MODES:
        raise UsageError(f"unknown mode {mode!r}", hint=f"Use one of: {', '.join(_MODES)}.")
    ws = open_workspace(workspace, writes="run goals")
    require_project(ws, project)  # it must exist (`llmos project create NAME`)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "llmos interactive needs a terminal",
            hint='In scripts and pipes, run each goal with `llmos run "goal"` (and --json).',
        )
    from llmos._internal.cli.repl.app import start
    from llmos._internal.cli.repl.session import ReplSession
    from llmos._internal.projects.store import load_project
    from llmos._internal.workspace import DEFAULT_PROJECT

    if project != DEFAULT_PROJECT:
        load_project(ws, project)  # its project.yaml must be right
    session = ReplSession(
        ws,
        mode=mode,  # type: ignore[arg-type]  # checked above
        project=project,
        budget_usd=budget,
        model=model,
        continuing=continue_,
    )
    asyncio.run(start(session))
