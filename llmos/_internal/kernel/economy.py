"""The token economy: the battery (a USD balance) and the ledger of every run.

State lives in the workspace's SQLite database. Before a run, `authorize` refuses a run
the balance cannot pay for and returns the cap to hand the SDK (`max_budget_usd`);
afterwards `record_run` charges the real cost the SDK reported, in the same transaction
that writes the run's ledger row.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

from llmos._internal.database import open_database, transaction, writable
from llmos._internal.errors import LowBatteryError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.journal import JournalSpec

# Below this the battery is considered flat: no model call costs less than about a cent.
MIN_RUN_BUDGET_USD = 0.01

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE balance_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        delta_usd REAL NOT NULL,
        balance_usd REAL NOT NULL,
        reason TEXT NOT NULL,
        run_id TEXT
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        goal TEXT NOT NULL,
        project TEXT NOT NULL,
        mode TEXT NOT NULL,
        model TEXT,
        status TEXT NOT NULL,
        cost_usd REAL NOT NULL,
        saved_usd REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        turns INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        duration_secs REAL NOT NULL DEFAULT 0,
        trace_path TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_time ON runs(started_at);
    """,
    # 2: the run a run is a subtask of (Orchestrator mode), so a run's rows can be summed.
    """
    ALTER TABLE runs ADD COLUMN parent_run TEXT;
    CREATE INDEX runs_by_parent ON runs(parent_run);
    """,
    # 3: per-project budgets (`llmos budget set --project NAME USD`): what is left of each.
    """
    CREATE TABLE project_budgets (
        project TEXT PRIMARY KEY,
        balance_usd REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX runs_by_project ON runs(project);
    """,
    # 4: once the security policy's audit trail (`policy_audit`). It has a database of its
    # own now (llmos/_internal/security/audit.py, which moves the table out of a workspace that has
    # it); the number stays taken, as migrations are only ever appended.
    "",
    # 5: the agent a run worked as (an orchestration's subtask), for per-agent statistics.
    """
    ALTER TABLE runs ADD COLUMN agent TEXT;
    """,
)

# How a run ended, as its ledger row says: the agent's own statuses (llmos/_internal/sdk/types.py's
# AgentStatus), a replay's (diverged, refused), an orchestration whose subtask failed
# (failed), a run cut short (interrupted), a run a killed process left (crashed, recorded by
# the next command).
RunStatus = Literal[
    "success",
    "error",
    "max_turns",
    "budget_exhausted",
    "timed_out",
    "governance_failed",
    "stopped",
    "handed_off",
    "diverged",
    "refused",
    "failed",
    "interrupted",
    "crashed",
]


@frozen
class RunRecord:
    """One run's row of the ledger: what it was, how it ended and what it cost."""

    run_id: str
    started_at: float
    finished_at: float
    goal: str
    project: str
    mode: str
    model: str | None
    status: RunStatus
    cost_usd: float
    saved_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    duration_secs: float = 0.0
    trace_path: str | None = None
    error: str | None = None
    parent_run: str | None = None  # the orchestration this run was a subtask of
    agent: str | None = None  # the agent it worked as


@frozen
class ProjectUsage:
    """What a project's runs have spent so far, summed from the ledger."""

    runs: int
    spent_usd: float
    last_run_at: float | None


@frozen
class BalanceEntry:
    """One change of the battery's balance: a top-up, a balance set, a run's charge."""

    at: float
    delta_usd: float
    balance_usd: float
    reason: str
    run_id: str | None


def ledger_journal(state_dir: Path) -> JournalSpec:
    """The journal of `state/llmos.db`: the ledger's tables, in `journal/ledger.jsonl`."""
    return JournalSpec(
        state_dir / "journal",
        (
            ("meta", "ledger"),
            ("balance_log", "ledger"),
            ("runs", "ledger"),
            ("project_budgets", "ledger"),
        ),
    )


MIGRATIONS = _MIGRATIONS


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the workspace database, bring its schema up to date and in step with its
    journals (`llmos/_internal/journal.py`)."""
    return open_database(db_path, _MIGRATIONS, journal=ledger_journal(db_path.parent))


class TokenEconomy:
    def __init__(self, db_path: Path, *, initial_balance_usd: float) -> None:
        self._conn = connect(db_path)
        self._initial = initial_balance_usd
        if self._balance_row() is None and writable(db_path.parent):
            with self._tx() as cur:
                row = cur.execute("SELECT value FROM meta WHERE key='balance_usd'").fetchone()
                if row is None:
                    self._set(
                        cur, initial_balance_usd, initial_balance_usd, "initial balance", None
                    )

    def _balance_row(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(
            "SELECT value FROM meta WHERE key='balance_usd'"
        ).fetchone()
        return row

    def close(self) -> None:
        self._conn.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Cursor]:
        return transaction(self._conn)

    # Balance -------------------------------------------------------------------------------
    @property
    def balance(self) -> float:
        row = self._balance_row()
        # No row: a workspace llmos cannot write, never used; its balance would be the first.
        return float(row[0]) if row else self._initial

    def set_balance(self, amount_usd: float) -> float:
        _check_amount(amount_usd)
        with self._tx() as cur:
            old = float(cur.execute("SELECT value FROM meta WHERE key='balance_usd'").fetchone()[0])
            self._set(cur, amount_usd, amount_usd - old, "balance set", None)
        return amount_usd

    def add(self, amount_usd: float) -> float:
        _check_amount(amount_usd)
        with self._tx() as cur:
            old = float(cur.execute("SELECT value FROM meta WHERE key='balance_usd'").fetchone()[0])
            self._set(cur, old + amount_usd, amount_usd, "top-up", None)
        return old + amount_usd

    @staticmethod
    def _set(
        cur: sqlite3.Cursor, balance: float, delta: float, reason: str, run: str | None
    ) -> None:
        cur.execute(
            "INSERT INTO meta(key, value) VALUES('balance_usd', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (repr(round(balance, 10)),),
        )
        cur.execute(
            "INSERT INTO balance_log(at, delta_usd, balance_usd, reason, run_id) VALUES(?,?,?,?,?)",
            (time.time(), delta, balance, reason, run),
        )

    # Runs ------------------------------------------------------------------------------------
    def authorize(self, run_cap_usd: float | None, *, project: str | None = None) -> float:
        """The budget a run may spend: min(its cap, the balance, what is left of its
        project's budget if it has one). Raise if that is too little."""
        balance = self.balance
        if run_cap_usd is not None and run_cap_usd <= 0:
            raise UsageError(f"--budget must be positive, got {run_cap_usd}")
        if balance < MIN_RUN_BUDGET_USD:
            raise LowBatteryError(
                f"low battery: the balance is ${balance:.4f}, too little for a model run",
                balance_usd=balance,
                hint="Top it up with `llmos budget add USD` (or `llmos budget set USD`).",
            )
        left = self.project_budget(project) if project is not None else None
        if left is not None:
            if left < MIN_RUN_BUDGET_USD:
                raise LowBatteryError(
                    f"project {project} has ${left:.4f} of its budget left, too little for a "
                    "model run",
                    balance_usd=left,
                    hint=f"Raise it with `llmos budget add --project {project} USD`.",
                )
            balance = min(balance, left)
        return balance if run_cap_usd is None else min(run_cap_usd, balance)

    def record_run(self, record: RunRecord) -> float:
        """Write the run's ledger row and charge its cost, atomically. Returns the new balance."""
        row = dict(record.__dict__)
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO runs({', '.join(row)}) VALUES({', '.join(':' + k for k in row)})",
                row,
            )
            old = float(cur.execute("SELECT value FROM meta WHERE key='balance_usd'").fetchone()[0])
            new = old - record.cost_usd
            if record.cost_usd:
                self._set(cur, new, -record.cost_usd, f"{record.mode} run", record.run_id)
                cur.execute(
                    "UPDATE project_budgets SET balance_usd = balance_usd - ?, updated_at = ?"
                    " WHERE project = ?",
                    (record.cost_usd, time.time(), record.project),
                )
        return new

    # Project budgets -----------------------------------------------------------------------
    def project_budget(self, project: str) -> float | None:
        """What is left of `project`'s budget, or None when it has none (the balance rules)."""
        row = self._conn.execute(
            "SELECT balance_usd FROM project_budgets WHERE project = ?", (project,)
        ).fetchone()
        return None if row is None else float(row[0])

    def set_project_budget(self, project: str, amount_usd: float) -> float:
        """From now on `project`'s runs may spend `amount_usd` in all (and never more than
        the balance)."""
        _check_amount(amount_usd)
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO project_budgets(project, balance_usd, updated_at) VALUES(?, ?, ?)"
                " ON CONFLICT(project) DO UPDATE SET balance_usd = excluded.balance_usd,"
                " updated_at = excluded.updated_at",
                (project, amount_usd, time.time()),
            )
        return amount_usd

    def add_project_budget(self, project: str, amount_usd: float) -> float:
        _check_amount(amount_usd)
        with self._tx() as cur:
            row = cur.execute(
                "SELECT balance_usd FROM project_budgets WHERE project = ?", (project,)
            ).fetchone()
            if row is None:
                raise UsageError(
                    f"project {project} has no budget to add to",
                    hint=f"Give it one with `llmos budget set --project {project} USD`.",
                )
            left = float(row[0]) + amount_usd
            cur.execute(
                "UPDATE project_budgets SET balance_usd = ?, updated_at = ? WHERE project = ?",
                (left, time.time(), project),
            )
        return left

    def clear_project_budget(self, project: str) -> bool:
        """Remove `project`'s budget (only the balance limits it then); False if it had none."""
        with self._tx() as cur:
            cur.execute("DELETE FROM project_budgets WHERE project = ?", (project,))
            return cur.rowcount > 0

    def project_usage(self) -> dict[str, ProjectUsage]:
        """Per project: its runs (not counting an orchestration's subtasks apart), what they
        all cost, and when the last one started."""
        rows = self._conn.execute(
            "SELECT project, SUM(parent_run IS NULL), COALESCE(SUM(cost_usd), 0),"
            " MAX(started_at) FROM runs GROUP BY project"
        ).fetchall()
        return {row[0]: ProjectUsage(int(row[1]), float(row[2]), row[3]) for row in rows}

    def runs(self, *, limit: int = 20) -> list[RunRecord]:
        rows = self._conn.execute(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [RunRecord(**dict(row)) for row in rows]

    def subtask_runs(self, parent_run: str) -> list[RunRecord]:
        """The ledger rows of the runs done as subtasks of `parent_run`, oldest first."""
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE parent_run = ? ORDER BY started_at", (parent_run,)
        ).fetchall()
        return [RunRecord(**dict(row)) for row in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """The ledger row of `run_id`, if it has one."""
        row = self._conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else RunRecord(**dict(row))

    def run_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def total_spent(self) -> float:
        return float(self._conn.execute("SELECT COALESCE(SUM(cost_usd),0) FROM runs").fetchone()[0])

    def balance_log(self, *, limit: int = 20) -> list[BalanceEntry]:
        rows = self._conn.execute(
            "SELECT at, delta_usd, balance_usd, reason, run_id FROM balance_log"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [BalanceEntry(**dict(row)) for row in rows]


def _check_amount(amount_usd: float) -> None:
    if not amount_usd >= 0 or amount_usd == float("inf"):
        raise UsageError(f"amount must be a finite number >= 0, got {amount_usd}")
