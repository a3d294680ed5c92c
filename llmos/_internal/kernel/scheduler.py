"""The scheduler: finds the scheduled goals that are due and runs them, one at a time.

One pass (`run_due`) looks at every job once. For a job whose next fire time has come:

- **Misfire rule.** Fire times that passed while the kernel was down (or busy with another
  run) are *coalesced*: however many there were, the job runs once, provided the latest of
  them is less than the grace period old (`schedule_misfire_grace_secs`, default one hour;
  never under `MIN_GRACE_SECS`, the kernel's own lateness). Otherwise none of them runs:
  they are recorded as one "missed" entry in the job's history, and the job waits for its
  next fire time ahead. A one-off (`--at`) that was missed that way is over.
- The fire time is claimed in the job store before the run starts (see `jobs.py`), so two
  schedulers on one workspace can never both run it; the kernel's lock (`daemon.py`) makes
  sure there is only one anyway.
- A run is never started twice at once: the next fire time is set from the moment the run
  starts, and one that comes due during the run is a missed one, under the rule above.

Time comes from an injected `Clock`, so tests drive the scheduler without sleeping.
`serve` repeats passes until told to stop, sleeping until the next fire time or for at
most `poll_secs`, so jobs the command line adds or changes meanwhile are picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from llmos._internal.errors import AgentError, LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import Event, JobFinished, JobMissed, JobStarted
from llmos._internal.kernel.jobs import Job, JobResult, JobStore
from llmos._internal.kernel.run_context import new_run_id

log = logging.getLogger(__name__)

MIN_GRACE_SECS = 5.0
POLL_SECS = 5.0
_MAX_SLEEP_SLICE = 60.0  # re-read the wall clock at least this often (suspend, clock changes)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        """Return once `now() >= when`, or as soon as `wake` is set."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        while not wake.is_set() and (remaining := when - time.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, _MAX_SLEEP_SLICE))


@dataclass
class RunProgress:
    """What the runner learns about a run as it goes: kept if the run is interrupted. The
    run id is chosen before the run starts (and recorded with the job's run at once)."""

    run_id: str | None = None
    cost_usd: float = 0.0
    started: bool = False  # the run began (a refusal before it does is no failed run)

    def result(self, status: str, error: str | None) -> JobResult:
        return JobResult(status, self.run_id, self.cost_usd, error)


JobRunner = Callable[[Job, RunProgress], Awaitable[JobResult]]


@frozen
class Decision:
    """What the misfire rule says of a due job: run it now, or record its fire times as missed."""

    action: Literal["run", "skip"]
    due: float
    next_run_at: float | None
    fires: int  # fire times from `due` to now


def decide(job: Job, now: float, grace_secs: float) -> Decision | None:
    """What the misfire rule says to do with `job` at `now` (None: it is not due)."""
    due = job.next_run_at
    if job.paused or due is None or due > now:
        return None
    schedule = job.schedule
    grace = max(grace_secs, MIN_GRACE_SECS)
    in_grace = schedule.first_fire_at_or_after(max(due, now - grace))
    action: Literal["run", "skip"] = "run" if in_grace is not None and in_grace <= now else "skip"
    return Decision(action, due, schedule.fire_after(now), schedule.count_fires(due, now))


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        *,
        clock: Clock,
        grace_secs: float,
        publish: Callable[[Event], None] = lambda event: None,
        poll_secs: float = POLL_SECS,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.grace_secs = grace_secs
        self.publish = publish
        self.poll_secs = poll_secs

    async def run_due(self) -> list[JobResult]:
        """One pass: each job that is due now is run (or skipped as missed) once."""
        now = self.clock.now()
        due = sorted(
            (j for j in self.store.jobs() if decide(j, now, self.grace_secs)),
            key=lambda j: (j.next_run_at or 0.0, j.id),
        )
        results = []
        for stale in due:
            # Re-read: an earlier run took time, and the command line may have changed it.
            job = next((j for j in self.store.jobs() if j.id == stale.id), None)
            now = self.clock.now()
            decision = decide(job, now, self.grace_secs) if job else None
            if job is None or decision is None:
                continue
            if decision.action == "skip":
                self._skip(job, decision)
                continue
            result = await self._run(job, decision, now)
            if result is not None:
                results.append(result)
        return results

    def _skip(self, job: Job, decision: Decision) -> None:
        grace = max(self.grace_secs, MIN_GRACE_SECS)
        reason = f"missed by more than the {grace:g} s grace period (kernel down or busy)"
        if self.store.skip(
            job,
            due=decision.due,
            next_run_at=decision.next_run_at,
            missed=decision.fires,
            reason=reason,
        ):
            self.publish(
                JobMissed(
                    run_id="",
                    job_id=job.id,
                    missed=decision.fires,
                    first_missed=decision.due,
                    reason=reason,
                )
            )

    async def _run(self, job: Job, decision: Decision, now: float) -> JobResult | None:
        progress = RunProgress(run_id=new_run_id())
        row = self.store.claim(
            job,
            due=decision.due,
            next_run_at=decision.next_run_at,
            now=now,
            coalesced=decision.fires,
            run_id=progress.run_id,  # kept from the start: a killed kernel's record names it
        )
        if row is None:
            return None  # another scheduler claimed it, or it was paused or removed
        self.publish(
            JobStarted(
                run_id="",
                job_id=job.id,
                goal=job.goal,
                scheduled_for=decision.due,
                coalesced=decision.fires,
            )
        )
        try:
            result = await self.runner(job, progress)
        except asyncio.CancelledError:
            error = "the kernel was stopped during the run"
            self._finish(job, row, progress.result("interrupted", error), now)
            raise
        except LlmosError as exc:
            status = "error" if isinstance(exc, AgentError) or progress.started else "refused"
            result = progress.result(status, exc.message)
        except Exception as exc:  # a bug in one run must not stop the kernel
            log.exception("scheduled job %s failed", job.id)
            result = progress.result("error", f"{type(exc).__name__}: {exc}")
        self._finish(job, row, result, now)
        return result

    def _finish(self, job: Job, row: int, result: JobResult, started: float) -> None:
        finished = self.clock.now()
        self.store.finish(row, job.id, result, now=finished)
        self.publish(
            JobFinished(
                run_id=result.run_id or "",
                job_id=job.id,
                status=result.status,
                cost_usd=result.cost_usd,
                duration_secs=max(0.0, finished - started),
                error=result.error,
            )
        )

    def next_wake(self) -> float:
        """When the next pass is needed: the earliest fire time, or the next poll."""
        now = self.clock.now()
        times = [j.next_run_at for j in self.store.jobs() if not j.paused and j.next_run_at]
        return min([now + self.poll_secs, *times])

    async def serve(self, stop: asyncio.Event) -> None:
        """Run passes until `stop` is set; a run in progress then is interrupted (and recorded)."""
        while not stop.is_set():
            if not await until_stopped(self.run_due(), stop):
                return
            await self.clock.sleep_until(self.next_wake(), stop)


async def until_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await `work`, or cancel it if `stop` is set first. True if it finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this task itself is cancelled: never leave `work` running
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()
    return True
