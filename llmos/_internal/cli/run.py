"""`llmos run`: give llmos a goal. Its options as typer reads them; what the command does
is `run_goal.py` (`quick_run.py` reads the common command lines without typer)."""

# No `from __future__ import annotations`: typer reads the parameters' annotations, and as
# strings it would compile each one again at every start (a few ms of a $0 replay).

from typing import Annotated

import typer

from llmos._internal.cli.options import JsonOption, ModelOption, WorkspaceOption, finite
from llmos._internal.cli.run_goal import APPROVE_VIA, RunOptions, run_goal
from llmos._internal.engine.types import MODES


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
    code = run_goal(
        RunOptions(
            goal=goal,
            mode=mode,  # type: ignore[arg-type]  # validated by _check_mode
            project=project,
            budget=budget,
            model=model,
            max_turns=max_turns,
            timeout=timeout,
            trace=trace,
            parallel=parallel,
            dry_run=dry_run,
            yes=yes,
            approve_via=approve_via,
            as_json=as_json,
            workspace=workspace,
        )
    )
    if code:
        raise typer.Exit(code)
