"""The `llmos` command line.

Expected failures (`LlmosError`) become a one-line message, a hint and a non-zero exit;
only bugs show a traceback. Keep imports here light: `llmos --help` must not load the SDK.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from llmos.errors import LlmosError

app = typer.Typer(
    name="llmos",
    help=(
        "An LLM operating system: give it a goal in plain language. The model learns it once "
        "(Learner mode, through the Claude Agent SDK, every tool call guarded) and the "
        "execution trace it leaves becomes reusable memory."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    from llmos.cli import budget, demo, run, status, traces

    app.command("run")(run.run)
    app.command("status")(status.status)
    app.add_typer(budget.budget_app, name="budget")
    app.add_typer(traces.traces_app, name="traces")
    app.command("demo")(demo.demo)
    _register_kernel_services()


def _register_kernel_services() -> None:
    from llmos.cli import kernel, schedule, sessions

    app.add_typer(schedule.schedule_app, name="schedule")
    app.add_typer(kernel.kernel_app, name="kernel")
    app.add_typer(sessions.sessions_app, name="sessions")


_register()


def report_error(exc: LlmosError) -> None:
    err = Console(stderr=True, highlight=False)
    err.print(f"[bold red]error:[/] {exc.message}", markup=True)
    if exc.hint:
        err.print(exc.hint, markup=False)


def main() -> None:
    try:
        app()
    except LlmosError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
