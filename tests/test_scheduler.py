"""The scheduler with an injected clock (no sleeps): schedules, persistence across restarts,
the misfire rule, the claim that stops two schedulers running one fire time, and the lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from llmos._internal.daemon import Kernel, KernelAlreadyRunning
from llmos._internal.errors import LowBatteryError, UsageError
from llmos._internal.kernel.events import Event, JobFinished, JobMissed, JobStarted
from llmos._internal.kernel.jobs import Job, JobResult, JobStore
from llmos._internal.kernel.process import kernel_state, schedule_db
from llmos._internal.kernel.scheduler import RunProgress, Scheduler
from llmos._internal.kernel.triggers import Schedule, parse_at, parse_cron, parse_every
from llmos._internal.workspace import Workspace

UTC = ZoneInfo("UTC")
# Saturday 2025-01-04 10:00:00 UTC
SATURDAY = dt.datetime(2025, 1, 4, 10, tzinfo=UTC).timestamp()
HOUR = 3600.0


def _at(timestamp: float | None, tz: str = "UTC") -> str:
    assert timestamp is not None
    return dt.datetime.fromtimestamp(timestamp, ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M")


def _fires(schedule: Schedule, start: float, count: int) -> list[str]:
    out, t = [], start
    for _ in range(count):
        fire = schedule.fire_after(t)
        assert fire is not None
        out.append(_at(fire, schedule.tz))
        t = fire
    return out


class FakeClock:
    """Time stands still until the test moves it; `sleep_until` waits for that (or `wake`)."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.sleeping = asyncio.Event()  # set while the scheduler waits on the clock
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self.t

    def advance(self, secs: float) -> None:
        self.t += secs
        self._moved.set()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        while self.t < when and not wake.is_set():
            self._moved = asyncio.Event()
            self.sleeping.set()
            moved, woken = (
                asyncio.ensure_future(self._moved.wait()),
                asyncio.ensure_future(wake.wait()),
            )
            await asyncio.wait({moved, woken}, return_when=asyncio.FIRST_COMPLETED)
            moved.cancel()
            woken.cancel()
        self.sleeping.clear()


class Runner:
    """A job runner that records its calls instead of running a model."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []
        self.called = asyncio.Event()
        self.gate: asyncio.Event | None = None  # set: runs wait for it (a long run)
        self.fail: dict[str, Exception] = {}

    async def __call__(self, job: Job, progress: RunProgress) -> JobResult:
        self.calls.append((job.id, self.clock.now()))
        self.called.set()
        if job.id in self.fail:  # refused before a run started: no run id
            raise self.fail[job.id]
        progress.run_id = f"run-{len(self.calls)}"
        if self.gate is not None:
            await self.gate.wait()
        return JobResult("success", progress.run_id, 0.01)


def _scheduler(
    db: Path, clock: FakeClock, runner: Runner, events: list[Event] | None = None
) -> Scheduler:
    publish = events.append if events is not None else (lambda event: None)
    return Scheduler(JobStore(db), runner, clock=clock, grace_secs=HOUR, publish=publish)


# Schedules ----------------------------------------------------------------------------------
def test_cron_weekdays_mean_what_crontab_says() -> None:
    weekdays = parse_cron("0 9 * * 1-5", tz="UTC")  # APScheduler 3 alone would say Tue-Sat
    assert [f[:3] for f in _fires(weekdays, SATURDAY, 5)] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    for sunday in ("0 9 * * 0", "0 9 * * 7", "0 9 * * sun"):
        assert _fires(parse_cron(sunday, tz="UTC"), SATURDAY, 1) == ["Sun 2025-01-05 09:00"]
    weekend = parse_cron("30 8 * * 5-7", tz="UTC")
    assert [f[:3] for f in _fires(weekend, SATURDAY, 3)] == ["Sun", "Fri", "Sat"]
    assert _fires(parse_cron("@daily", tz="UTC"), SATURDAY, 1) == ["Sun 2025-01-05 00:00"]
    assert _fires(parse_cron("*/15 * * * *", tz="UTC"), SATURDAY, 2) == [
        "Sat 2025-01-04 10:15",
        "Sat 2025-01-04 10:30",
    ]


def test_cron_runs_in_the_time_zone_it_was_added_in() -> None:
    paris = parse_cron("0 9 * * *", tz="Europe/Paris")
    fire = paris.fire_after(SATURDAY)
    assert _at(fire, "Europe/Paris") == "Sun 2025-01-05 09:00"
    assert _at(fire) == "Sun 2025-01-05 08:00"  # UTC+1 in winter


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("2d", 172800), ("1H", 3600)]
)
def test_intervals_parse_and_anchor_one_interval_on(text: str, seconds: int) -> None:
    every = parse_every(text, now=SATURDAY + 0.4)
    assert every.interval_secs == seconds
    assert every.start == SATURDAY + 1 + seconds  # whole seconds, one interval after adding
    assert every.fire_after(every.start) == every.start + seconds
    assert every.count_fires(every.start, every.start + 10 * seconds) == 11


def test_at_accepts_now_iso_times_and_zones() -> None:
    assert parse_at("now", now=SATURDAY + 0.7, tz="UTC").start == SATURDAY
    naive = parse_at("2025-01-04T12:00", now=SATURDAY, tz="Europe/Paris")
    assert _at(naive.start) == "Sat 2025-01-04 11:00"
    offset = parse_at("2025-01-04T12:00+00:00", now=SATURDAY, tz="Europe/Paris")
    assert _at(offset.start) == "Sat 2025-01-04 12:00"


@pytest.mark.parametrize(
    ("parse", "message"),
    [
        (lambda: parse_cron("61 * * * *", tz="UTC"), "bad cron expression"),
        (lambda: parse_cron("* * *", tz="UTC"), "has 3 field(s)"),
        (lambda: parse_cron("0 9 1 * 1", tz="UTC"), "both the day of the month and the weekday"),
        (lambda: parse_cron("0 9 * * 8", tz="UTC"), "bad weekday '8'"),
        (lambda: parse_cron("0 9 * * 5-2", tz="UTC"), "runs backwards"),
        (lambda: parse_cron("0 9 * * *", tz="Mars/Olympus"), "unknown time zone"),
        (lambda: parse_every("30", now=SATURDAY), "bad interval"),
        (lambda: parse_every("30 minutes", now=SATURDAY), "bad interval"),
        (lambda: parse_every("59s", now=SATURDAY), "shorter than a minute"),
        (lambda: parse_at("tomorrow", now=SATURDAY, tz="UTC"), "bad time"),
        (lambda: parse_at("2025-01-04T09:59", now=SATURDAY, tz="UTC"), "in the past"),
    ],
)
def test_bad_schedules_are_refused_clearly(parse, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as caught:
        parse()
    assert message in caught.value.message


# Running due jobs ---------------------------------------------------------------------------
def test_a_due_job_runs_once_then_waits_for_its_next_fire_time(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner, events = Runner(clock), []
        scheduler = _scheduler(tmp_path / "s.db", clock, runner, events)
        job = scheduler.store.add("tidy", parse_every("30m", now=clock.now()), now=clock.now())
        assert await scheduler.run_due() == []  # not due yet
        clock.advance(1800)
        assert [r.status for r in await scheduler.run_due()] == ["success"]
        assert await scheduler.run_due() == []  # the same fire time never runs twice
        (stored,) = scheduler.store.jobs()
        assert stored.next_run_at == job.schedule.start + 1800
        assert (stored.last_status, stored.last_run_id, stored.runs) == ("success", "run-1", 1)
        assert [type(e) for e in events] == [JobStarted, JobFinished]
        assert isinstance(events[1], JobFinished) and events[1].run_id == "run-1"

    asyncio.run(main())


def test_jobs_persist_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "s.db"

    async def first_life() -> list[Job]:
        clock = FakeClock(SATURDAY)
        scheduler = _scheduler(db, clock, Runner(clock))
        store = scheduler.store
        store.add("report", parse_cron("0 9 * * 1-5", tz="UTC"), now=clock.now(), project="web")
        store.add("tidy", parse_every("1h", now=clock.now()), now=clock.now(), budget_usd=0.5)
        clock.advance(HOUR + 1)
        await scheduler.run_due()
        jobs = store.jobs()
        store.close()
        return jobs

    before = asyncio.run(first_life())
    with JobStore(db) as store:  # a new process: everything comes back from the file
        after = store.jobs()
        history = store.history()
    assert after == before
    report, tidy = sorted(after, key=lambda job: job.goal)
    assert report.project == "web" and _at(report.next_run_at) == "Mon 2025-01-06 09:00"
    assert tidy.budget_usd == 0.5 and tidy.last_status == "success" and tidy.runs == 1
    assert [(run.job_id, run.status) for run in history] == [(tidy.id, "success")]


def test_missed_runs_within_the_grace_period_are_coalesced_into_one(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner, events = Runner(clock), []
        scheduler = _scheduler(tmp_path / "s.db", clock, runner, events)
        job = scheduler.store.add("tidy", parse_every("1h", now=clock.now()), now=clock.now())
        first = job.schedule.start
        clock.t = first + 4 * HOUR + 600  # down for 5 fire times; the last is 10 minutes old
        await scheduler.run_due()
        assert len(runner.calls) == 1
        (run,) = scheduler.store.history()
        assert (run.scheduled_for, run.coalesced, run.missed) == (first, 5, 4)
        assert isinstance(events[0], JobStarted) and events[0].coalesced == 5
        assert scheduler.store.jobs()[0].next_run_at == first + 5 * HOUR  # back on its grid

    asyncio.run(main())


def test_missed_runs_older_than_the_grace_period_are_skipped_and_recorded(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner, events = Runner(clock), []
        scheduler = _scheduler(tmp_path / "s.db", clock, runner, events)
        scheduler.store.add("report", parse_cron("0 9 * * *", tz="UTC"), now=clock.now())
        clock.t = dt.datetime(2025, 1, 7, 12, tzinfo=UTC).timestamp()  # 3 fires, last 3 h ago
        await scheduler.run_due()
        assert runner.calls == []
        (missed,) = scheduler.store.history()
        assert (missed.status, missed.missed, missed.started_at) == ("missed", 3, None)
        assert _at(missed.scheduled_for) == "Sun 2025-01-05 09:00"
        (job,) = scheduler.store.jobs()
        assert job.last_status == "missed" and "grace" in (job.last_error or "")
        assert _at(job.next_run_at) == "Wed 2025-01-08 09:00"
        assert [type(e) for e in events] == [JobMissed]

    asyncio.run(main())


def test_a_one_off_runs_once_and_a_missed_one_is_over(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        scheduler = _scheduler(tmp_path / "s.db", clock, runner)
        store = scheduler.store
        now_job = store.add("now", parse_at("now", now=clock.now(), tz="UTC"), now=clock.now())
        later = parse_at("2025-01-04T11:00", now=clock.now(), tz="UTC")
        late_job = store.add("later", later, now=clock.now())
        await scheduler.run_due()
        assert runner.calls == [(now_job.id, SATURDAY)]
        clock.t = later.start + 2 * HOUR  # the kernel was down when "later" was due
        await scheduler.run_due()
        await scheduler.run_due()
        assert len(runner.calls) == 1
        jobs = {job.id: job for job in store.jobs()}
        assert jobs[now_job.id].next_run_at is None and jobs[now_job.id].last_status == "success"
        assert jobs[late_job.id].next_run_at is None and jobs[late_job.id].last_status == "missed"

    asyncio.run(main())


def test_paused_jobs_do_not_run_and_resuming_does_not_make_up_the_gap(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        scheduler = _scheduler(tmp_path / "s.db", clock, runner)
        store = scheduler.store
        job = store.add("tidy", parse_every("1h", now=clock.now()), now=clock.now())
        assert store.pause(job.id[:3]).paused  # a unique prefix is enough
        clock.advance(3 * HOUR + 60)
        await scheduler.run_due()
        assert runner.calls == []
        resumed = store.resume(job.id, now=clock.now())
        assert resumed.next_run_at == job.schedule.start + 3 * HOUR  # the next one ahead
        await scheduler.run_due()
        assert runner.calls == []
        clock.t = resumed.next_run_at
        await scheduler.run_due()
        assert len(runner.calls) == 1

    asyncio.run(main())


def test_job_ids_accept_a_unique_prefix_only(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s.db") as store:
        every = parse_every("1h", now=SATURDAY)
        ids = {store.add(f"goal {n}", every, now=SATURDAY).id for n in range(40)}
        some = sorted(ids)[0]
        assert store.get(some).id == some
        with pytest.raises(UsageError, match="no scheduled job"):
            store.get("not-hex")
        shared = Counter(job_id[0] for job_id in ids).most_common(1)[0][0]  # 40 ids, 16 digits
        with pytest.raises(UsageError, match="matches several jobs"):
            store.get(shared)
        assert store.remove(some).id == some
        assert len(store.jobs()) == 39


def test_a_fire_time_is_claimed_once_however_many_schedulers_look(tmp_path: Path) -> None:
    db = tmp_path / "s.db"

    async def main() -> int:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        first, second = _scheduler(db, clock, runner), _scheduler(db, clock, runner)
        first.store.add("tidy", parse_at("now", now=clock.now(), tz="UTC"), now=clock.now())
        await asyncio.gather(first.run_due(), second.run_due())
        return len(runner.calls)

    assert asyncio.run(main()) == 1
    # The claim itself: two stores that both saw the job due; only one wins.
    with JobStore(db) as a, JobStore(db) as b:
        job = a.add("again", parse_at("now", now=SATURDAY, tz="UTC"), now=SATURDAY)
        stale_a, stale_b = a.get(job.id), b.get(job.id)
        won = a.claim(stale_a, due=SATURDAY, next_run_at=None, now=SATURDAY, coalesced=1)
        lost = b.claim(stale_b, due=SATURDAY, next_run_at=None, now=SATURDAY, coalesced=1)
        assert won is not None and lost is None


def test_failed_runs_are_recorded_and_the_scheduler_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> dict[str, tuple[str | None, str | None]]:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        scheduler = _scheduler(tmp_path / "s.db", clock, runner)
        now = parse_at("now", now=clock.now(), tz="UTC")
        broke = scheduler.store.add("low battery", now, now=clock.now())
        bug = scheduler.store.add("bug", now, now=clock.now())
        fine = scheduler.store.add("fine", now, now=clock.now())
        runner.fail = {
            broke.id: LowBatteryError("low battery: the balance is $0.0000", balance_usd=0),
            bug.id: RuntimeError("boom"),
        }
        with caplog.at_level(logging.CRITICAL):
            await scheduler.run_due()
        jobs = {job.goal: (job.last_status, job.last_error) for job in scheduler.store.jobs()}
        assert fine.id in [call[0] for call in runner.calls]
        return jobs

    jobs = asyncio.run(main())
    assert jobs["low battery"] == ("refused", "low battery: the balance is $0.0000")
    assert jobs["bug"] == ("error", "RuntimeError: boom")
    assert jobs["fine"] == ("success", None)


def test_serve_follows_the_clock_and_stops_cleanly_mid_run(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        scheduler = _scheduler(tmp_path / "s.db", clock, runner)
        scheduler.store.add("tidy", parse_every("1m", now=clock.now()), now=clock.now())
        stop = asyncio.Event()
        serving = asyncio.create_task(scheduler.serve(stop))
        for expected in (1, 2):
            await clock.sleeping.wait()
            clock.advance(60)
            await runner.called.wait()
            runner.called.clear()
            assert len(runner.calls) == expected
        runner.gate = asyncio.Event()  # the third run hangs...
        await clock.sleeping.wait()
        clock.advance(60)
        await runner.called.wait()
        stop.set()  # ...and stopping the kernel interrupts it
        await asyncio.wait_for(serving, 10)
        statuses = [run.status for run in scheduler.store.history()]
        assert statuses == ["interrupted", "success", "success"]
        assert scheduler.store.history()[0].run_id == "run-3"

    asyncio.run(main())


# The kernel's lock ------------------------------------------------------------------------
def test_one_kernel_per_workspace(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    assert not kernel_state(ws).running
    with Kernel(ws):
        state = kernel_state(ws)
        assert state.running and state.pid == os.getpid()
        with pytest.raises(KernelAlreadyRunning) as refused, Kernel(ws):
            pass
        assert refused.value.pid == os.getpid()
        assert "already running" in refused.value.message
    assert not kernel_state(ws).running
    with Kernel(ws):  # released: the next kernel starts
        pass


def test_a_kernel_abandons_runs_a_dead_kernel_left_running(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with JobStore(schedule_db(ws)) as store:
        job = store.add("x", parse_at("now", now=SATURDAY, tz="UTC"), now=SATURDAY)
        store.claim(job, due=SATURDAY, next_run_at=None, now=SATURDAY, coalesced=1)
        assert store.history()[0].status == "running"
    with Kernel(ws), JobStore(schedule_db(ws)) as store:
        (run,) = store.history()
        assert run.status == "abandoned" and "kernel stopped" in (run.error or "")


def test_kernel_once_runs_what_is_due_and_reports_it(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    seen: list[str] = []

    async def main() -> None:
        clock = FakeClock(SATURDAY)
        runner = Runner(clock)
        with JobStore(schedule_db(ws)) as store:
            store.add("now", parse_at("now", now=clock.now(), tz="UTC"), now=clock.now())
            store.add("later", parse_every("1h", now=clock.now()), now=clock.now())
        with Kernel(ws, clock=clock, runner=runner) as kernel:
            await kernel.run(
                asyncio.Event(), once=True, subscribers=[("test", lambda e: seen.append(e.kind))]
            )
        assert len(runner.calls) == 1

    asyncio.run(main())
    assert seen == ["job_started", "job_finished"]
