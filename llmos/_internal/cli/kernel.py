"""`llmos kernel`: run the kernel (scheduled goals) in the foreground, or see what it does."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.schedule import print_jobs, when
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.daemon import Kernel, take_interrupts
from llmos._internal.kernel.events import Event, JobFinished, JobMissed, JobStarted
from llmos._internal.kernel.jobs import JobStore
from llmos._internal.kernel.process import kernel_state, schedule_db
from llmos._internal.text import escape

kernel_app = typer.Typer(
    help="The kernel: `kernel start` runs scheduled goals in the foreground; `kernel status`.",
    no_args_is_help=True,
)


def _emit(line: str) -> None:
    # Flushed line by line: whoever reads a pipe (a supervisor, a test) sees events live.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class KernelReporter:
    """Prints the kernel's job events: a line of text each, or a JSON object each (--json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def note(self, event: str, text: str, **data: Any) -> None:
        """A kernel-level line (started, stopped), not from the bus."""
        if self.as_json:
            _emit(json.dumps({"event": event, "at": time.time(), **data}))
        else:
            self._line(text)

    @staticmethod
    def _line(text: str) -> None:
        _emit(f"{time.strftime('%H:%M:%S')} {text}")

    def __call__(self, event: Event) -> None:
        if self.as_json:
            _emit(json.dumps({"event": event.kind, **event.to_dict()}, default=str))
            return
        match event:
            case JobStarted():
                extra = f" ({event.coalesced} missed runs coalesced)" if event.coalesced > 1 else ""
                self._line(f"▶ job {event.job_id} {event.goal}{extra}")
            case JobFinished():
                run = f" run {event.run_id}" if event.run_id else ""
                error = f": {event.error}" if event.error else ""
                self._line(
                    f"■ job {event.job_id} {event.status} ${event.cost_usd:.4f} "
                    f"{event.duration_secs:.1f} s{run}{error}",
                )
            case JobMissed():
                self._line(f"⋯ job {event.job_id} {event.missed} run(s) {event.reason}")
            case _:
                pass


@kernel_app.command("start")
def start(
    once: Annotated[
        bool, typer.Option("--once", help="Run the goals that are due now, then exit.")
    ] = False,
    with_console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="Serve the web console too, on 127.0.0.1 (its address and one-time token are "
            "printed): the policy's questions from scheduled runs wait in its inbox.",
        ),
    ] = False,
    console_port: Annotated[
        int,
        typer.Option(
            "--console-port", help="The console's port (0 picks a free one).", min=0, max=65535
        ),
    ] = 8765,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line, per event.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the kernel in the foreground: scheduled goals run as they come due.

    One kernel per workspace. Ctrl-C (SIGINT) or SIGTERM stops it; a run in progress is
    interrupted and recorded as such.
    """
    ws = open_workspace(workspace, writes="run the kernel")
    reporter = KernelReporter(as_json)
    web = _console(ws, console_port) if with_console else None
    with Kernel(ws) as kernel:
        with JobStore(schedule_db(ws)) as store:
            jobs = store.jobs()
        reporter.note(
            "kernel_started",
            f"llmos kernel running (pid {kernel.pid}) on {ws.root}: {len(jobs)} scheduled "
            f"job(s){'; one pass' if once else '; Ctrl-C stops it'}",
            pid=kernel.pid,
            workspace=str(ws.root),
            jobs=len(jobs),
            once=once,
        )
        if web is None:
            asyncio.run(_serve(kernel, once, reporter, None))
        else:
            from llmos._internal.console.server import presence

            with presence(ws, web[2]):
                asyncio.run(_serve(kernel, once, reporter, web))
    reporter.note("kernel_stopped", "kernel stopped")


def _console(ws: Any, port: int) -> tuple[Any, Any, Any]:
    """The web console beside the kernel (llmos/_internal/console/): bound now, so a port in use is
    an error before the kernel starts."""
    from llmos._internal.console.server import make_console
    from llmos._internal.listening import listening_socket

    sock = listening_socket("127.0.0.1", port)
    console, address = make_console(ws, sock)
    return console, sock, address


async def _serve(
    kernel: Kernel, once: bool, reporter: KernelReporter, web: tuple[Any, Any, Any] | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # The web console interrupts one scheduled run (llmos/_internal/kernel/daemon.py).
    loop.add_signal_handler(signal.SIGUSR1, take_interrupts, kernel.ws)
    served = None
    if web is not None:
        from llmos._internal.console.server import serve

        console, sock, address = web

        def ready() -> None:
            reporter.note(
                "console_started",
                f"web console on {address.url}; open (once): {address.login_url}",
                url=address.url,
                login_url=address.login_url,
                token=address.token,
            )

        console_stop = asyncio.Event()
        served = asyncio.create_task(serve(console, sock, console_stop, ready=ready))
    try:
        await kernel.run(stop, once=once, subscribers=[("console", reporter)])
    finally:
        if served is not None:
            console_stop.set()
            await served
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            loop.remove_signal_handler(sig)


@kernel_app.command("status")
def status(
    limit: Annotated[int, typer.Option("--limit", "-n", help="Recent runs to show.", min=1)] = 10,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Whether the kernel runs, its jobs with their next and last runs, and recent runs."""
    ws = open_workspace(workspace)
    state = kernel_state(ws)
    with JobStore(schedule_db(ws)) as store:
        jobs, history = store.jobs(), store.history(limit=limit)
    if as_json:
        info = {
            **state.to_dict(),
            "jobs": [job.to_dict() for job in jobs],
            "recent_runs": [run.__dict__ for run in history],
        }
        print_json(info)
        return
    console = terminal()
    if state.running:
        console.print(f"[bold]kernel[/] running (pid {state.pid}, since {when(state.started_at)})")
        if state.current:
            console.print(
                f"[bold]now[/] job {state.current['job_id']} since "
                f"{when(state.current['since'])}: {escape(state.current['goal'])}"
            )
    else:
        console.print("[bold]kernel[/] not running (start it with `llmos kernel start`)")
    print_jobs(jobs)
    rows = []
    for run in history:
        note = run.error or (f"{run.coalesced} runs coalesced" if run.coalesced > 1 else "")
        if run.status == "missed":
            note = f"{run.missed} missed: {note}"
        rows.append(
            (
                when(run.started_at or run.scheduled_for),
                run.job_id,
                run.status,
                f"${run.cost_usd:.4f}",
                run.run_id or "-",
                note,
            )
        )
    print_table(
        [
            moment("when"),
            Column("job"),
            Column("status"),
            Column("cost", justify="right"),
            Column("run"),
            Column("note", prose=True),
        ],
        rows,
        title="recent runs",
    )
