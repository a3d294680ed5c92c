"""The audit trail of the security policy: one row per decision on a tool call, in a database
of its own (`state/audit.db`, table ``policy_audit``), journaled in `state/journal/audit.jsonl`
so that `llmos doctor --repair` can rebuild it.

A row holds when, which run, where the call came from (``learner``, ``follower``,
``import``...), the tool and its input, the final decision, what the policy itself said (an
``ask`` that a human approved is ``allow`` after ``ask``), the rule and reason, who approved
(``the user``, ``--yes``), and the input that ran when a human changed it. `llmos policy audit`
lists them.

Earlier versions kept the table in the ledger's database (`state/llmos.db`, through the
ledger's migration 4). The first time a newer llmos opens the audit trail of such a
workspace, `connect` moves it: the rows are copied into a new database built under a
temporary name, which then appears as `audit.db` in one step (a hard link, so two processes
doing it at once cannot both win), and only then is the table dropped from `llmos.db`. A
process killed in between leaves either the old layout (tried again by the next command) or
both copies (the drop is tried again: `audit_meta.earlier_home` says it is still due).
"""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types), and the run guard (every `llmos run`) imports this module.

import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, NamedTuple

from llmos._internal.database import (
    Connection,
    open_database,
    raise_os_error,
    transaction,
    writable,
)
from llmos._internal.errors import WorkspaceStateError
from llmos._internal.journal import JournalSpec, fsync_folder, start_journal_at
from llmos._internal.recovery import note_temp
from llmos._internal.text import capped

log = logging.getLogger(__name__)

FILE_NAME = "audit.db"
_TABLE = "policy_audit"
_JOURNAL = "audit"
# Where llmos kept the table before it had a database of its own (the ledger's).
_EARLIER_HOME = "llmos.db"

MIGRATIONS: tuple[str, ...] = (
    # 1: the decisions; and what is left to do of moving them out of the ledger's database.
    """
    CREATE TABLE IF NOT EXISTS policy_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        tool TEXT NOT NULL,
        input TEXT NOT NULL,
        decision TEXT NOT NULL,
        policy_decision TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        approved_by TEXT,
        ran_input TEXT
    );
    CREATE INDEX IF NOT EXISTS policy_audit_by_run ON policy_audit(run_id, id);
    CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

_MAX_INPUT_CHARS = 8000  # a Write's content can be large; the audit keeps the start


def audit_journal(state_dir: Path) -> JournalSpec:
    """The journal of `state/audit.db` (the audit trail's own, `journal/audit.jsonl`)."""
    return JournalSpec(state_dir / "journal", ((_TABLE, _JOURNAL),))


def connect(db_path: Path) -> Connection:
    """Open the audit database at `db_path`, its schema up to date and in step with its
    journal; an earlier layout's table (in the ledger's database beside it) is moved here
    first. In a folder llmos cannot write, an earlier layout is read where it is."""
    folder = db_path.parent
    earlier = db_path.with_name(_EARLIER_HOME)
    if not db_path.exists() and _holds_table(earlier):
        if not (folder.is_dir() and writable(folder)):
            return open_database(earlier, ())  # read-only: read the rows where they are
        _move(earlier, db_path)
    conn = open_database(db_path, MIGRATIONS, journal=audit_journal(folder))
    try:
        if conn.execute("SELECT 1 FROM audit_meta WHERE key='earlier_home'").fetchone():
            _drop_earlier(conn, earlier)
    except BaseException:
        conn.close()
        raise
    return conn


def earlier_layout(db_path: Path) -> bool:
    """Whether the audit trail still lives in the ledger's database (an earlier llmos's
    layout, moved by the next command that opens it). Read-only; a ledger that cannot be
    read says no (its own check reports it)."""
    try:
        return not db_path.exists() and _holds_table(db_path.with_name(_EARLIER_HOME))
    except WorkspaceStateError:
        return False


def _holds_table(path: Path) -> bool:
    if not path.exists():
        return False
    with closing(open_database(path, ())) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (_TABLE,)
        ).fetchone()
    return found is not None


def _move(earlier: Path, db_path: Path) -> None:
    """Copy the audit table of `earlier` into a new database that appears at `db_path` whole,
    to be dropped from `earlier` (`_drop_earlier`)."""
    # One transaction: the rows and how much of the journal they hold, seen together.
    with closing(open_database(earlier, ())) as source, transaction(source, flush=False):
        rows = [dict(r) for r in source.execute(f"SELECT * FROM {_TABLE} ORDER BY id")]
        applied = _applied(source)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{db_path.name}.{os.getpid()}-", suffix=".tmp", dir=db_path.parent
        )
    except OSError as exc:
        raise_os_error(exc, db_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    note_temp(tmp)  # a killed process's half-built copy is removed by the next command
    try:
        with closing(open_database(tmp, MIGRATIONS)) as built:
            with transaction(built):
                if rows:
                    _insert(built, rows)
                built.execute(
                    "INSERT INTO audit_meta(key, value) VALUES('earlier_home', ?)", (_EARLIER_HOME,)
                )
                if applied is not None:
                    # How much of the journal the rows hold: the rest is replayed on open.
                    start_journal_at(built, _JOURNAL, applied)
            built.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal: it moves whole
        try:
            os.link(tmp, db_path)  # appears whole, and only once if two processes race
        except FileExistsError:
            pass  # another process moved it first: its copy is the same rows
        except OSError as exc:
            raise_os_error(exc, db_path)
        else:
            fsync_folder(db_path.parent)
            log.info("moved the audit trail (%d row(s)) from %s to %s", len(rows), earlier, db_path)
    finally:
        for suffix in ("", "-journal"):
            with suppress(FileNotFoundError):
                Path(tmp_name + suffix).unlink()


def _applied(conn: Connection) -> int | None:
    """How far the ledger's database held the audit journal (None: it never did)."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='journal_state'"
    ).fetchone():
        return None
    row = conn.execute("SELECT applied FROM journal_state WHERE name=?", (_JOURNAL,)).fetchone()
    return None if row is None else int(row[0])


def _drop_earlier(conn: Connection, earlier: Path) -> None:
    """The rows are here: drop the table from the ledger's database, and note it done."""
    try:
        if earlier.exists():
            with closing(open_database(earlier, ())) as old, transaction(old, flush=False):
                old.execute(f"DROP TABLE IF EXISTS {_TABLE}")  # its index and triggers too
                if _applied(old) is not None:
                    old.execute("DELETE FROM journal_state WHERE name=?", (_JOURNAL,))
    except WorkspaceStateError as exc:  # the audit trail is whole here: try again next time
        log.warning("could not drop the earlier audit table from %s: %s", earlier, exc)
        return
    with transaction(conn):
        conn.execute("DELETE FROM audit_meta WHERE key='earlier_home'")


class AuditEntry(NamedTuple):
    at: float
    run_id: str
    source: str
    tool: str
    input: str  # JSON
    decision: str  # allow | deny (after any approval)
    policy_decision: str  # allow | ask | deny: what the policy said
    rule: str
    reason: str
    approved_by: str | None = None
    ran_input: str | None = None  # JSON, when a human changed the call

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        for key in ("input", "ran_input"):
            text = data[key]
            if text is not None:
                with suppress(ValueError):  # a truncated input stays text
                    data[key] = json.loads(text)
        return data


def input_json(value: Mapping[str, Any]) -> str:
    text = json.dumps(
        capped(dict(value), _MAX_INPUT_CHARS), ensure_ascii=False, sort_keys=True, default=str
    )
    return text if len(text) <= _MAX_INPUT_CHARS else text[:_MAX_INPUT_CHARS] + "…"


def insert_rows(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows (`AuditEntry._asdict()`) in one transaction of `db`."""
    if not rows:
        return
    with transaction(db):
        _insert(db, rows)


def _insert(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(rows[0])
    values = ", ".join(":" + k for k in rows[0])
    db.executemany(f"INSERT INTO {_TABLE}({columns}) VALUES({values})", rows)


class AuditLog:
    """Appends decisions to the audit table and reads them back. A run's decisions go through
    one connection, opened at its first decision and closed with the run (`close`): opening
    and closing the database for each (its migrations looked at, a checkpoint and an fsync at
    every close) cost each decision a few milliseconds. Each decision is still committed,
    and journaled, before the call it decides on runs."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._db: Connection | None = None

    def record(
        self,
        *,
        run_id: str,
        source: str,
        tool: str,
        tool_input: Mapping[str, Any],
        decision: str,
        policy_decision: str,
        rule: str,
        reason: str,
        approved_by: str | None = None,
        ran_input: Mapping[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            at=time.time(),
            run_id=run_id,
            source=source,
            tool=tool,
            input=input_json(tool_input),
            decision=decision,
            policy_decision=policy_decision,
            rule=rule,
            reason=reason,
            approved_by=approved_by,
            ran_input=input_json(ran_input) if ran_input is not None else None,
        )
        self._write([entry._asdict()])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` in one transaction. (A long-lived writer, the gateway's, overrides
        this to write from a thread of its own: llmos/_internal/gateway/audit.py.)"""
        if self._db is None:
            self._db = connect(self.db_path)
        insert_rows(self._db, rows)

    def close(self) -> None:
        """Close the connection the decisions went through (if any: a run may decide nothing)."""
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def entries(self, *, run: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """The latest `limit` decisions (of `run`, a run id or its prefix), oldest first."""
        query = "SELECT * FROM policy_audit"
        params: list[Any] = []
        if run:
            query += " WHERE run_id LIKE ? ESCAPE '\\'"
            params.append(run.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with closing(connect(self.db_path)) as db:
            rows = db.execute(query, params).fetchall()
        return [AuditEntry(**{k: row[k] for k in AuditEntry._fields}) for row in reversed(rows)]
