"""`llmos schedule`: goals that run on their own while the kernel runs (`llmos kernel start`)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import (
    JsonOption,
    ModelOption,
    WorkspaceOption,
    YesOption,
    confirm,
    finite,
    require_project,
)
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.engine.types import MODES
from llmos._internal.errors import UsageError
from llmos._internal.kernel.jobs import Job, JobStore
from llmos._internal.kernel.process import kernel_state, schedule_db
from llmos._internal.kernel.triggers import local_zone, parse_at, parse_cron, parse_every
from llmos._internal.text import clean
from llmos._internal.workspace import validate_project_name

schedule_app = typer.Typer(
    help=(
        "Goals that run on a schedule while the kernel runs (`llmos kernel start`): "
        "add, list, rm, pause, resume."
    ),
    no_args_is_help=True,
)
JobId = Annotated[str, typer.Argument(help="Job id or a unique prefix.", show_default=False)]


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def print_jobs(jobs: list[Job]) -> None:
    """The jobs as a table (`schedule list`, `kernel status`)."""
    rows = []
    for job in jobs:
        next_run = "paused" if job.paused else when(job.next_run_at)
        if not job.paused and job.next_run_at is None:
            next_run = "done"
        status = job.last_status or "-"
        if job.last_status and job.last_status != "success" and job.last_error:
            status = f"{job.last_status}: {job.last_error}"
        rows.append(
            (
                job.id,
                job.schedule.describe(),
                next_run,
                when(job.last_run_at),
                status,
                job.project,
                job.goal,
            )
        )
    print_table(
        [
            Column("id"),
            Column("schedule"),
            moment("next run"),
            moment("last run"),
            Column("last status", prose=True),
            Column("project"),
            Column("goal", prose=True),
        ],
        rows,
        empty="no scheduled jobs; add one with `llmos schedule add`",
    )


def _store(workspace: Path | None, *, writes: str | None = None) -> JobStore:
    return JobStore(schedule_db(open_workspace(workspace, writes=writes)))


def _print_job(job: Job, as_json: bool, message: str) -> None:
    if as_json:
        print_json(job.to_dict())
    else:
        terminal().print(clean(message), markup=False)


@schedule_app.command("add")
def add(
    goal: Annotated[str, typer.Argument(help="What to do, in plain language.", metavar="GOAL")],
    cron: Annotated[
        str | None,
        typer.Option("--cron", help='Crontab expression, e.g. "0 9 * * 1-5" (weekdays at 9:00).'),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Interval: 30m, 2h, 1d, 1h30m (first run one interval on)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help='Once, at an ISO time ("2030-01-31T09:00"), or "now".'),
    ] = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Project to run in.")] = "default",
    mode: Annotated[
        str, typer.Option("--mode", "-m", help="auto, learner, follower or orchestrator.")
    ] = "auto",
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget", "-b", help="Most each run may spend, in USD.", min=0.0001, callback=finite
        ),
    ] = None,
    model: ModelOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Wall-clock limit per run, in seconds (default: scheduled_run_timeout_secs).",
            min=0.1,
            callback=finite,
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Schedule GOAL with exactly one of --cron, --every or --at."""
    if sum(option is not None for option in (cron, every, at)) != 1:
        raise UsageError(
            "give exactly one of --cron, --every or --at",
            hint='e.g. llmos schedule add --every 1h "Summarise new files in inbox/"',
        )
    if not goal.strip():
        raise UsageError("the goal is empty", hint="Say what to do.")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}", hint=f"Use one of: {', '.join(MODES)}.")
    validate_project_name(project)
    now = time.time()
    if cron is not None:
        schedule = parse_cron(cron, tz=local_zone())
    elif every is not None:
        schedule = parse_every(every, now=now)
    else:
        schedule = parse_at(at or "", now=now, tz=local_zone())
    ws = open_workspace(workspace, writes="schedule a goal")
    require_project(ws, project)  # it would fail when it fires
    with JobStore(schedule_db(ws)) as store:
        job = store.add(
            goal,
            schedule,
            now=now,
            project=project,
            mode=mode,
            model=model,
            budget_usd=budget,
            timeout_secs=timeout,
        )
    message = f"scheduled job {job.id}: {schedule.describe()}; next run {when(job.next_run_at)}"
    if not kernel_state(ws).running:
        message += "\nThe kernel is not running: start it with `llmos kernel start`."
    _print_job(job, as_json, message)


@schedule_app.command("list")
def list_jobs(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List scheduled jobs with their next and last runs."""
    with _store(workspace) as store:
        jobs = store.jobs()
    if as_json:
        print_listing("jobs", [job.to_dict() for job in jobs])
    else:
        print_jobs(jobs)


@schedule_app.command("rm")
def remove(
    job_id: JobId,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a job (asks first, unless --yes); its past runs stay in the history."""
    with _store(workspace, writes="change the schedule") as store:
        job = store.get(job_id)
        confirm(f"Remove job {job.id} ({job.goal!r}, {job.schedule.describe()})?", yes=yes)
        job = store.remove(job.id)
    if as_json:
        print_json({**job.to_dict(), "deleted": True})
        return
    _print_job(job, as_json, f"removed job {job.id}: {job.goal}")


@schedule_app.command("pause")
def pause(job_id: JobId, as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Pause a job: it does not run until resumed."""
    with _store(workspace, writes="change the schedule") as store:
        job = store.pause(job_id)
    _print_job(job, as_json, f"paused job {job.id}")


@schedule_app.command("resume")
def resume(job_id: JobId, as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Resume a paused job; runs the pause skipped are not made up."""
    with _store(workspace, writes="change the schedule") as store:
        job = store.resume(job_id, now=time.time())
    _print_job(job, as_json, f"resumed job {job.id}; next run {when(job.next_run_at)}")
