"""Scheduled goals and their history, kept in the workspace (`state/schedule.db`, SQLite).

The command line adds, pauses and removes jobs while a kernel may be running; the kernel
reads the table afresh on every pass, so changes reach it without a restart. A due fire time
is *claimed* with one compare-and-set update (`next_run_at` moves on only if it still holds
the value the claimer saw), so however many processes look at the same job, one fire time
starts at most one run. Each run or batch of missed runs leaves a row in `job_runs`.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmos._internal.database import open_database, transaction
from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.journal import JournalSpec
from llmos._internal.kernel.triggers import Schedule

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        goal TEXT NOT NULL,
        kind TEXT NOT NULL,
        expr TEXT NOT NULL,
        tz TEXT NOT NULL,
        start REAL NOT NULL,
        interval_secs INTEGER NOT NULL,
        project TEXT NOT NULL,
        mode TEXT NOT NULL,
        model TEXT,
        budget_usd REAL,
        timeout_secs REAL,
        paused INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        next_run_at REAL,
        last_run_at REAL,
        last_run_id TEXT,
        last_status TEXT,
        last_cost_usd REAL,
        last_error TEXT,
        runs INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        scheduled_for REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        status TEXT NOT NULL,
        run_id TEXT,
        cost_usd REAL NOT NULL DEFAULT 0,
        coalesced INTEGER NOT NULL DEFAULT 1,
        missed INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE INDEX job_runs_by_job ON job_runs(job_id, id);
    """,
)
_JOB_ID = re.compile(r"^[0-9a-f]{1,32}$")
RUNNING = "running"


@frozen
class Job:
    """A scheduled goal, as the job store keeps it."""

    id: str
    goal: str
    schedule: Schedule
    project: str
    mode: str
    model: str | None
    budget_usd: float | None
    timeout_secs: float | None
    paused: bool
    created_at: float
    next_run_at: float | None  # None: nothing left to run (a one-off that ran or was missed)
    last_run_at: float | None = None
    last_run_id: str | None = None
    last_status: str | None = None
    last_cost_usd: float | None = None
    last_error: str | None = None
    runs: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schedule"] = self.schedule.describe()
        return data


@frozen
class JobResult:
    """How one scheduled run ended."""

    status: str
    run_id: str | None = None
    cost_usd: float = 0.0
    error: str | None = None


@frozen
class JobRun:
    """One entry of a job's history: a run it started, or fire times that were missed."""

    id: int
    job_id: str
    scheduled_for: float
    started_at: float | None
    finished_at: float | None
    status: str
    run_id: str | None
    cost_usd: float
    coalesced: int
    missed: int
    error: str | None


MIGRATIONS = _MIGRATIONS


def schedule_journal(state_dir: Path) -> JournalSpec:
    """The journal of `state/schedule.db`: its jobs and their runs."""
    return JournalSpec(state_dir / "journal", (("jobs", "schedule"), ("job_runs", "schedule")))


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the schedule database, bring its schema up to date and in step with its
    journal (`llmos/_internal/journal.py`)."""
    return open_database(db_path, _MIGRATIONS, journal=schedule_journal(db_path.parent))


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    schedule = Schedule(
        data.pop("kind"),
        data.pop("expr"),
        data.pop("tz"),
        data.pop("start"),
        data.pop("interval_secs"),
    )
    data["paused"] = bool(data["paused"])
    return Job(schedule=schedule, **data)


class JobStore:
    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Cursor]:
        return transaction(self._conn)

    # Jobs ------------------------------------------------------------------------------------
    def add(
        self,
        goal: str,
        schedule: Schedule,
        *,
        now: float,
        project: str = "default",
        mode: str = "auto",
        model: str | None = None,
        budget_usd: float | None = None,
        timeout_secs: float | None = None,
    ) -> Job:
        job = Job(
            id=secrets.token_hex(4),
            goal=goal,
            schedule=schedule,
            project=project,
            mode=mode,
            model=model,
            budget_usd=budget_usd,
            timeout_secs=timeout_secs,
            paused=False,
            created_at=now,
            # A one-off is due at its time even if that is "now", a moment already past.
            next_run_at=schedule.start
            if schedule.kind == "at"
            else schedule.first_fire_at_or_after(now),
        )
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO jobs(id, goal, kind, expr, tz, start, interval_secs, project, mode,"
                " model, budget_usd, timeout_secs, paused, created_at, next_run_at)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,0,?,?)",
                (
                    job.id,
                    goal,
                    schedule.kind,
                    schedule.expr,
                    schedule.tz,
                    schedule.start,
                    schedule.interval_secs,
                    project,
                    mode,
                    model,
                    budget_usd,
                    timeout_secs,
                    now,
                    job.next_run_at,
                ),
            )
        return job

    def jobs(self) -> list[Job]:
        rows = self._conn.execute("SELECT * FROM jobs ORDER BY created_at, id").fetchall()
        return [_job(row) for row in rows]

    def get(self, ref: str) -> Job:
        """The job whose id is `ref` or starts with it."""
        ref = ref.strip().lower()
        rows = []
        if _JOB_ID.match(ref):
            rows = self._conn.execute(
                "SELECT * FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY id", (len(ref), ref)
            ).fetchall()
        if len(rows) == 1:
            return _job(rows[0])
        hint = "See the job ids with `llmos schedule list`."
        if not rows:
            raise UsageError(f"no scheduled job {ref!r}", hint=hint)
        ids = ", ".join(row["id"] for row in rows)
        raise UsageError(f"{ref!r} matches several jobs: {ids}", hint="Give more of the id.")

    def remove(self, ref: str) -> Job:
        job = self.get(ref)
        with self._tx() as cur:
            cur.execute("DELETE FROM jobs WHERE id=?", (job.id,))
        return job

    def pause(self, ref: str) -> Job:
        job = self.get(ref)
        with self._tx() as cur:
            cur.execute("UPDATE jobs SET paused=1 WHERE id=?", (job.id,))
        return self.get(job.id)

    def resume(self, ref: str, *, now: float) -> Job:
        """Unpause; the runs the pause skipped are not made up: the next is the next ahead."""
        job = self.get(ref)
        if not job.paused:
            return job
        next_run = job.next_run_at
        if next_run is not None and next_run < now:
            next_run = job.schedule.first_fire_at_or_after(now)
            if next_run is None:
                raise UsageError(
                    f"job {job.id} was due at {job.schedule.describe()}, which passed while "
                    "it was paused",
                    hint=f"Remove it (`llmos schedule rm {job.id}`) or add it again.",
                )
        with self._tx() as cur:
            cur.execute("UPDATE jobs SET paused=0, next_run_at=? WHERE id=?", (next_run, job.id))
        return self.get(job.id)

    # Runs ------------------------------------------------------------------------------------
    def claim(
        self,
        job: Job,
        *,
        due: float,
        next_run_at: float | None,
        now: float,
        coalesced: int,
        run_id: str | None = None,
    ) -> int | None:
        """Take the fire time `due` of `job` for a run starting now; the run's row id, or None
        if another process took it (or the job was paused, removed or changed) first."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET next_run_at=? WHERE id=? AND next_run_at=? AND paused=0",
                (next_run_at, job.id, due),
            )
            if cur.rowcount != 1:
                return None
            cur.execute(
                "INSERT INTO job_runs(job_id, scheduled_for, started_at, status, coalesced,"
                " missed, run_id) VALUES(?,?,?,?,?,?,?)",
                (job.id, due, now, RUNNING, coalesced, coalesced - 1, run_id),
            )
            return cur.lastrowid

    def skip(
        self, job: Job, *, due: float, next_run_at: float | None, missed: int, reason: str
    ) -> bool:
        """Record `missed` fire times from `due` on as missed and move the job on."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET next_run_at=?, last_status='missed', last_error=?"
                " WHERE id=? AND next_run_at=? AND paused=0",
                (next_run_at, reason, job.id, due),
            )
            if cur.rowcount != 1:
                return False
            cur.execute(
                "INSERT INTO job_runs(job_id, scheduled_for, status, coalesced, missed, error)"
                " VALUES(?,?,'missed',0,?,?)",
                (job.id, due, missed, reason),
            )
            return True

    def finish(self, row_id: int, job_id: str, result: JobResult, *, now: float) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE job_runs SET finished_at=?, status=?, run_id=?, cost_usd=?, error=?"
                " WHERE id=?",
                (now, result.status, result.run_id, result.cost_usd, result.error, row_id),
            )
            started = cur.execute(
                "SELECT started_at FROM job_runs WHERE id=?", (row_id,)
            ).fetchone()
            cur.execute(
                "UPDATE jobs SET last_run_at=?, last_run_id=?, last_status=?, last_cost_usd=?,"
                " last_error=?, runs=runs+1 WHERE id=?",
                (
                    started[0] if started else now,
                    result.run_id,
                    result.status,
                    result.cost_usd,
                    result.error,
                    job_id,
                ),
            )

    def abandon_running(
        self, *, now: float, cost_of: Callable[[str], float | None] = lambda run_id: None
    ) -> int:
        """Mark runs left "running" by a kernel that died as abandoned, with what their run
        cost as the ledger knows it (`cost_of(run_id)`). Call holding the lock."""
        with self._tx() as cur:
            rows = cur.execute(
                "SELECT id, job_id, run_id FROM job_runs WHERE status=?", (RUNNING,)
            ).fetchall()
            for row in rows:
                cost = cost_of(row["run_id"]) if row["run_id"] else None
                cur.execute(
                    "UPDATE job_runs SET status='abandoned', finished_at=?, cost_usd=?,"
                    " error='the kernel stopped before the run finished' WHERE id=?",
                    (now, cost or 0.0, row["id"]),
                )
                cur.execute(
                    "UPDATE jobs SET last_run_id=?, last_status='abandoned', last_cost_usd=?"
                    " WHERE id=?",
                    (row["run_id"], cost or 0.0, row["job_id"]),
                )
            return len(rows)

    def history(self, job_id: str | None = None, *, limit: int = 20) -> list[JobRun]:
        where, args = ("WHERE job_id=?", (job_id,)) if job_id else ("", ())
        rows = self._conn.execute(
            f"SELECT * FROM job_runs {where} ORDER BY id DESC LIMIT ?", (*args, limit)
        ).fetchall()
        return [JobRun(**dict(row)) for row in rows]
