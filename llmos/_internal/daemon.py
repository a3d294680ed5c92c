"""The kernel process behind `llmos kernel start`: one per workspace, running scheduled goals.

- **Lock.** The kernel holds an exclusive `flock` on `state/kernel.lock` for its whole life;
  a second kernel on the same workspace fails to take it and says which process has it.
  The operating system drops the lock when the process ends, however it ends, so a crashed
  kernel never blocks the next one. (`state/kernel.json` says who holds it and what it is
  running; it is written atomically and removed on a clean stop.)
- **Runs.** Each due goal goes through the dispatcher (`modes.dispatcher.run_goal`) like
  `llmos run`, with the job's project, mode and budget, and a wall-clock limit (the job's
  `--timeout`, else `scheduled_run_timeout_secs`): a scheduled run has no terminal and must
  end on its own. The settings are re-read for every run, so `config.yaml` edits apply
  without a restart. The policy's questions go to the web console's inbox while a console
  runs (`llmos console`, or `kernel start --console`), else they are refused.
- **Stopping.** The command line sets the `stop` event on SIGINT or SIGTERM; a run in
  progress is interrupted (the agent's CLI is ended, the run is charged and recorded as
  interrupted) and the kernel exits cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from llmos._internal.errors import LlmosError
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.kernel.bus import EventBus, Handler
from llmos._internal.kernel.events import Event, JobFinished, JobStarted, RunFinished, RunStarted
from llmos._internal.kernel.jobs import Job, JobResult, JobStore
from llmos._internal.kernel.process import (
    info_path,
    interrupts_dir,
    kernel_state,
    lock_path,
    schedule_db,
)
from llmos._internal.kernel.scheduler import (
    POLL_SECS,
    Clock,
    JobRunner,
    RunProgress,
    Scheduler,
    SystemClock,
    until_stopped,
)
from llmos._internal.security.approval_inbox import unattended_inbox
from llmos._internal.workspace import Workspace


class KernelAlreadyRunning(LlmosError):
    """Another kernel holds this workspace's lock."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message, hint="Stop it first (Ctrl-C in its terminal, or kill PID).")
        self.pid = pid


def _take(handle: TextIO) -> bool:
    # `kernel status` probes the lock for an instant (a shared lock); a start that meets such
    # a probe tries again a few times before concluding another kernel holds it.
    for attempt in range(5):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < 4:
                time.sleep(0.02)
    return False


async def dispatch_job(root: Path, job: Job, progress: RunProgress) -> JobResult:
    """Run `job`'s goal through the dispatcher, as `llmos run` would."""
    from llmos._internal.engine.types import RunRequest
    from llmos._internal.modes.dispatcher import run_goal  # the dispatcher's imports are not light

    ws = Workspace.open(root)  # fresh settings for every run
    limit = job.timeout_secs
    if limit is None:
        limit = ws.settings.scheduled_run_timeout_secs
    request = RunRequest(
        goal=job.goal,
        mode=job.mode,  # type: ignore[arg-type]  # checked by `schedule add`
        project=job.project,
        model=job.model,
        budget_usd=job.budget_usd,
        timeout_secs=limit if limit > 0 else None,
        run_id=progress.run_id,  # recorded with the job's run before it started
    )

    def observe(event: Event) -> None:
        if isinstance(event, RunStarted):
            progress.run_id, progress.started = event.run_id, True
        elif isinstance(event, RunFinished):
            progress.cost_usd = event.cost_usd

    # Nobody is at a scheduled run's terminal: the web console's inbox answers the policy's
    # questions while a console runs (or with `approvals: console`); else they are refused.
    approver = unattended_inbox(
        ws.state_dir,
        ws.settings.approvals,
        ws.settings.approval_expiry_secs,
        source="kernel",
    )
    run = asyncio.ensure_future(
        run_goal(ws, request, subscribers=[("kernel", observe)], approver=approver)
    )
    key = progress.run_id or ""
    _running[key] = run
    try:
        summary = await run
    except asyncio.CancelledError:
        this = asyncio.current_task()
        stopping = this is not None and this.cancelling() > 0  # the kernel itself stops
        if key in _interrupted and run.cancelled() and not stopping:
            return progress.result("interrupted", "interrupted from the web console")
        raise
    finally:
        _running.pop(key, None)
        _interrupted.discard(key)
    return JobResult(summary.status, summary.run_id, summary.cost_usd, summary.error)


# Interrupting one scheduled run, not the kernel: the web console writes the run's id in
# state/interrupts/ and sends the kernel SIGUSR1 (`request_interrupt`); the kernel cancels
# that run if it is the one it runs (a request for a run already over is dropped), and goes on.
_running: dict[str, asyncio.Future[Any]] = {}
_interrupted: set[str] = set()


def take_interrupts(ws: Workspace) -> list[str]:
    """Cancel the runs the console asked to interrupt (SIGUSR1's handler); returns them."""
    folder = interrupts_dir(ws)
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        return []
    cancelled = []
    for name in names:
        with contextlib.suppress(OSError):
            (folder / name).unlink()
        run = _running.get(name)
        if run is not None and not run.done():
            _interrupted.add(name)
            run.cancel()
            cancelled.append(name)
    return cancelled


class Kernel:
    """`with Kernel(ws) as kernel:` holds the lock; `await kernel.run(stop)` does the work."""

    def __init__(
        self,
        ws: Workspace,
        *,
        clock: Clock | None = None,
        runner: JobRunner | None = None,
        poll_secs: float = POLL_SECS,
    ) -> None:
        self.ws = ws
        self.clock = clock or SystemClock()
        self.runner = runner or (lambda job, progress: dispatch_job(ws.root, job, progress))
        self.poll_secs = poll_secs
        self.pid = os.getpid()
        self.started_at = time.time()
        self._lock: TextIO | None = None

    def __enter__(self) -> Kernel:
        path = lock_path(self.ws)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        if not _take(handle):
            handle.close()
            pid = kernel_state(self.ws).pid
            who = f" (pid {pid})" if pid else ""
            raise KernelAlreadyRunning(
                f"a kernel is already running on {self.ws.root}{who}", pid=pid
            ) from None
        self._lock = handle
        self._write_info(None)
        with JobStore(schedule_db(self.ws)) as store:
            # Runs a dead kernel left behind (their ledger rows were written by the
            # command that noticed the crash: llmos/_internal/recovery.py).
            store.abandon_running(now=self.clock.now(), cost_of=self._ledger_cost)
        return self

    def _ledger_cost(self, run_id: str) -> float | None:
        from llmos._internal.kernel.economy import connect

        conn = connect(self.ws.db_path)
        try:
            row = conn.execute("SELECT cost_usd FROM runs WHERE run_id=?", (run_id,)).fetchone()
        finally:
            conn.close()
        return None if row is None else float(row[0])

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            info_path(self.ws).unlink()
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the lock
            self._lock = None

    def _write_info(self, current: dict[str, Any] | None) -> None:
        info = {"pid": self.pid, "started_at": self.started_at, "current": current}
        atomic_write_text(info_path(self.ws), json.dumps(info) + "\n")

    def _track(self, event: Event) -> None:
        if isinstance(event, JobStarted):
            self._write_info({"job_id": event.job_id, "goal": event.goal, "since": event.at})
        elif isinstance(event, JobFinished):
            self._write_info(None)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        once: bool = False,
        subscribers: Sequence[tuple[str, Handler]] = (),
    ) -> None:
        """Run due jobs until `stop` is set; with `once`, one pass over the jobs due now."""
        assert self._lock is not None, "use `with Kernel(ws) as kernel`"
        bus = EventBus()
        bus.subscribe(self._track, name="kernel-state")
        for name, handler in subscribers:
            bus.subscribe(handler, name=name)
        store = JobStore(schedule_db(self.ws))
        try:
            scheduler = Scheduler(
                store,
                self.runner,
                clock=self.clock,
                grace_secs=self.ws.settings.schedule_misfire_grace_secs,
                publish=bus.publish,
                poll_secs=self.poll_secs,
            )
            if once:
                await until_stopped(scheduler.run_due(), stop)
            else:
                await scheduler.serve(stop)
        finally:
            store.close()
            await bus.close()
