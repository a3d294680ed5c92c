"""`llmos run`: give llmos a goal."""

# No `from __future__ import annotations`: typer reads the parameters' annotations, and as
# strings it would compile each one again at every start (a few ms of a $0 replay).

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from llmos._internal.cli.json_output import print_json

# At the top, though only a run needs them: this module is imported only for `llmos run`
# (llmos/_internal/cli/__init__.py), and imported with the command, they load while start-up has the
# garbage collector off.
from llmos._internal.cli.options import (
    JsonOption,
    ModelOption,
    WorkspaceOption,
    finite,
    open_workspace,
)
from llmos._internal.cli.render import LiveRenderer, dry_run_dict, print_dry_run, print_summary
from llmos._internal.cli.terminal import printer
from llmos._internal.engine.types import MODES, Mode, RunRequest
from llmos._internal.modes.dispatcher import plan_goal, run_goal_blocking
from llmos._internal.presentation.run_tracker import RunTracker
from llmos._internal.text import clean

if TYPE_CHECKING:
    from llmos._internal.kernel.bus import Handler
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace


APPROVE_VIA = ("auto", "terminal", "console")


def approver_for(
    *,
    yes: bool,
    interactive: bool,
    via: str = "auto",
    ws: "Workspace | None" = None,
) -> "Approver | None":
    """Who approves what the policy asks about in `llmos run`: --yes, the terminal, the web
    console's inbox (both at once: the first answer wins), or nobody. `via`: auto (the
    terminal; the inbox too while a console runs, or with `approvals: console`), terminal
    (only), console (the inbox, always). (The approval machinery is imported only for a run
    that has someone to ask.)"""
    if yes:
        from llmos._internal.security.approval import YesApprover

        return YesApprover()
    human: Approver | None = None
    if interactive and sys.stdin.isatty() and sys.stdout.isatty():
        from llmos._internal.cli.approve import TerminalApprover
        from llmos._internal.cli.terminal import terminal

        human = TerminalApprover(terminal())
    if via == "terminal" or ws is None:
        return human
    inbox = _inbox(ws, always=via == "console")
    if inbox is None or human is None:
        return inbox or human
    from llmos._internal.security.approval import FirstAnswer

    return FirstAnswer(human, inbox)


def _inbox(ws: "Workspace", *, always: bool) -> "Approver | None":
    from llmos._internal.security.console_watch import inbox_answered

    settings = ws.settings
    if not always and not inbox_answered(ws.state_dir, settings.approvals):
        return None  # (the inbox is not even loaded)
    from llmos._internal.security.approval_inbox import InboxApprover

    return InboxApprover(ws.state_dir, source="run", expiry_secs=settings.approval_expiry_secs)


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
    return value


def _check_mode(value: str) -> str:
    if value not in MODES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(MODES)}")
    return value


def run(
    goal: Annotated[
        str,
        typer.Argument(help="What to do, in plain language.", metavar="GOAL", show_default=False),
    ],
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            "-m",
            help="auto (default: llmos decides), learner, follower, or orchestrator (plan "
            "the goal over agents and run the subtasks, in parallel where they allow).",
            callback=_check_mode,
        ),
    ] = "auto",
    project: Annotated[
        str,
        typer.Option(
            "--project", "-p", help="Project to run in (its output/ is the working folder)."
        ),
    ] = "default",
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            "-b",
            help="Most this run may spend, in USD.",
            min=0.0001,
            callback=finite,
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    max_turns: Annotated[
        int | None, typer.Option("--max-turns", help="Most agent turns.", min=1, show_default=False)
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Wall-clock limit for the run, in seconds.",
            min=0.1,
            callback=finite,
            show_default=False,
        ),
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace", "-t", help="Replay this trace (id or unique prefix).", show_default=False
        ),
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel",
            help="Orchestrator mode: most subtasks running at once (independent ones only).",
            min=1,
            max=16,
        ),
    ] = 4,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show the mode and the replay plan; execute nothing."),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Approve the tool calls the security policy asks about, without asking "
            "(never the ones it denies). Without it, a run with no terminal (or --json) "
            "refuses them, and a run in a terminal asks you.",
        ),
    ] = False,
    approve_via: Annotated[
        str,
        typer.Option(
            "--approve-via",
            help="Who answers the calls the policy asks about: auto (this terminal; and the "
            "web console's inbox while `llmos console` runs), terminal, or console (the "
            "inbox, waiting for a console: for scripts). With a terminal and the inbox, the "
            "first answer wins.",
            callback=lambda v: _check_choice(v, APPROVE_VIA, "--approve-via"),
        ),
    ] = "auto",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run a goal: replay it if learned (Follower, $0), else learn it (Learner).

    A goal learned before is replayed from its trace without the model; a new one is
    worked out by the model through the Claude Agent SDK and its trace saved. A goal that
    lists several tasks (or --mode orchestrator) is planned over the agents (`llmos
    agents list`), its subtasks run in parallel where they allow.

    Exit status: 0 success, 1 the run failed, 2 bad usage, 3 no model access,
    4 low battery, 5 the agent (CLI) failed.
    """
    ws = open_workspace(workspace, writes=None if dry_run else "run a goal")
    mode_value: Mode = mode  # type: ignore[assignment]  # validated by _check_mode
    request = RunRequest(
        goal=goal,
        mode=mode_value,
        project=project,
        budget_usd=budget,
        model=model,
        max_turns=max_turns,
        timeout_secs=timeout,
        trace_id=trace,
        parallel=parallel,
    )
    console = printer()
    if dry_run:
        dry = plan_goal(ws, request)
        if as_json:
            print_json(dry_run_dict(dry))
        else:
            print_dry_run(console, dry)
        return
    subscribers: list[tuple[str, Handler]] = []
    renderer = LiveRenderer(console)
    tracker = RunTracker()
    subscribers.append(("tracker", tracker))
    if not as_json:
        subscribers.append(("terminal", renderer))
    approver = approver_for(yes=yes, interactive=not as_json, via=approve_via, ws=ws)
    try:
        summary = run_goal_blocking(ws, request, subscribers=subscribers, approver=approver)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: the run was recorded; say how it ended
        ended = tracker.summary(ws.sessions_dir)
        if as_json and ended is not None:
            print_json(ended)
        raise
    if as_json:
        print_json(summary.to_dict())
    else:
        if summary.result and not renderer.already_shown(summary.result):
            console.print()
            console.print(clean(summary.result), markup=False)
        console.print()
        print_summary(console, summary)
    if summary.status == "interrupted":
        raise typer.Exit(130)  # as Ctrl-C ends a command (SIGTERM's 143 is set in cli.main)
    if not summary.ok:
        raise typer.Exit(1)
