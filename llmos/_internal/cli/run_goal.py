"""What `llmos run` does once its command line is read (by typer, `run.py`, or by
`quick_run.py`): open the workspace, run the goal with its events shown, and say how it
ended. Nothing here imports typer or, when the output is not a terminal, rich."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

# At the top, though only a run needs them: this module is imported only for `llmos run`,
# and imported with the command, they load while start-up has the garbage collector off.
from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.render import LiveRenderer, dry_run_dict, print_dry_run, print_summary
from llmos._internal.cli.terminal import printer
from llmos._internal.engine.types import Mode, RunRequest
from llmos._internal.frozen import frozen
from llmos._internal.modes.dispatcher import plan_goal, run_goal_blocking
from llmos._internal.presentation.run_tracker import RunTracker
from llmos._internal.text import clean

if TYPE_CHECKING:
    from llmos._internal.kernel.bus import Handler
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace


APPROVE_VIA = ("auto", "terminal", "console")


@frozen(kw_only=True)
class RunOptions:
    """`llmos run`'s command line, read and checked (the options' help: `run.py`)."""

    goal: str
    mode: Mode = "auto"
    project: str = "default"
    budget: float | None = None
    model: str | None = None
    max_turns: int | None = None
    timeout: float | None = None
    trace: str | None = None
    parallel: int = 4
    dry_run: bool = False
    yes: bool = False
    approve_via: str = "auto"
    as_json: bool = False
    workspace: Path | None = None


def run_goal(options: RunOptions) -> int:
    """Run the goal as `options` say; the exit status (0 success, 1 the run failed, 130
    interrupted). Expected failures raise `LlmosError`."""
    ws = open_workspace(options.workspace, writes=None if options.dry_run else "run a goal")
    request = RunRequest(
        goal=options.goal,
        mode=options.mode,
        project=options.project,
        budget_usd=options.budget,
        model=options.model,
        max_turns=options.max_turns,
        timeout_secs=options.timeout,
        trace_id=options.trace,
        parallel=options.parallel,
    )
    as_json = options.as_json
    console = printer()
    if options.dry_run:
        dry = plan_goal(ws, request)
        if as_json:
            print_json(dry_run_dict(dry))
        else:
            print_dry_run(console, dry)
        return 0
    subscribers: list[tuple[str, Handler]] = []
    renderer = LiveRenderer(console)
    tracker = RunTracker()
    subscribers.append(("tracker", tracker))
    if not as_json:
        subscribers.append(("terminal", renderer))
    approver = approver_for(
        yes=options.yes, interactive=not as_json, via=options.approve_via, ws=ws
    )
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
        return 130  # as Ctrl-C ends a command (SIGTERM's 143 is set in cli.main)
    return 0 if summary.ok else 1


def approver_for(
    *,
    yes: bool,
    interactive: bool,
    via: str = "auto",
    ws: Workspace | None = None,
) -> Approver | None:
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


def _inbox(ws: Workspace, *, always: bool) -> Approver | None:
    from llmos._internal.security.console_watch import inbox_answered

    settings = ws.settings
    if not always and not inbox_answered(ws.state_dir, settings.approvals):
        return None  # (the inbox is not even loaded)
    from llmos._internal.security.approval_inbox import InboxApprover

    return InboxApprover(ws.state_dir, source="run", expiry_secs=settings.approval_expiry_secs)
