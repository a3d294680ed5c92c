"""Append-only journals of the state that exists nowhere else: the ledger, the audit trail and
the schedule (`state/journal/ledger.jsonl`, `audit.jsonl`, `schedule.jsonl`; the journals of
`llmos.db`, `audit.db` and `schedule.db`).

The journal is the source of truth and the database its materialised view. Every write
transaction on a journaled database (`database.transaction`) appends the rows it changed as
one JSON line, synced to disk, *before* it commits: SQLite triggers (installed here after
the migrations) copy each inserted, updated or deleted row into `journal_pending`, and the
commit turns those into the line. The database remembers how much of each journal it holds
(`journal_state.applied`, in bytes, updated in the same transaction), so:

- a commit that fails after the line was written (the disk filled up, the process was
  killed) is applied from the journal by the next transaction or open;
- a lost or damaged database is rebuilt by replaying its journals (`rebuild`, used by
  `llmos doctor --repair`), and a missing one whose journal shows it existed is refused
  instead of silently started afresh (`refuse_lost_database`);
- a journal started beside a database that already had rows begins with a snapshot of them.

Lines are `{"at": ..., "changes": [{"t": table, "op": "upsert"|"delete", "row": {...}}]}` or
`{"at": ..., "snapshot": {table: [rows]}}`. A journal lives on the same disk as its
database, so a full disk could stop both: the journal folder keeps a 1 MiB reserve file
that is given up to write the line (and the commit) when the disk is full, and made again
once there is room.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.errors import DamagedDatabaseError, DiskFullError
from llmos._internal.frozen import frozen

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmos._internal.database import Connection

log = logging.getLogger(__name__)

RESERVE_NAME = ".reserve"
RESERVE_BYTES = 1 << 20
_SUPPORT = (
    "CREATE TABLE IF NOT EXISTS journal_pending"
    " (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal_state (name TEXT PRIMARY KEY, applied INTEGER NOT NULL)",
)
_OPS = ("insert", "update", "delete")


@frozen
class JournalSpec:
    """Which tables of a database are journaled, and in which journal (by name)."""

    folder: Path  # state/journal
    tables: tuple[tuple[str, str], ...]  # (table, journal name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name in self.tables))

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.jsonl"

    def tables_of(self, name: str) -> tuple[str, ...]:
        return tuple(table for table, journal in self.tables if journal == name)

    def journal_of(self, table: str) -> str | None:
        return next((journal for t, journal in self.tables if t == table), None)


# Triggers -----------------------------------------------------------------------------------
def triggers_installed(conn: Connection, spec: JournalSpec) -> bool:
    """Whether the journal's triggers are exactly those of `spec`'s tables."""
    return _trigger_names(conn) == {f"journal_{t}_{op}" for t, _ in spec.tables for op in _OPS}


def _trigger_names(conn: Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='trigger' AND name GLOB 'journal_*'"
    ).fetchall()
    return {row[0] for row in rows}


def install_triggers(conn: Connection, spec: JournalSpec, *, schema_changed: bool) -> None:
    """Inside a write transaction: the journal's tables and the triggers that copy every
    change of a journaled table into `journal_pending` (made again when the schema changed:
    they list the columns)."""
    for statement in _SUPPORT:
        conn.execute(statement)
    if not schema_changed and triggers_installed(conn, spec):
        return
    wanted = {f"journal_{t}_{op}" for t, _ in spec.tables for op in _OPS}
    for name in _trigger_names(conn) - wanted:
        # A table this database no longer journals (one that moved to a database of its
        # own, such as the audit trail's): its rows stay, its changes are no longer copied.
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, _ in spec.tables:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        columns = [row["name"] for row in info]
        keys = [row["name"] for row in sorted(info, key=lambda r: r["pk"]) if row["pk"]]
        new_row = ", ".join(f"'{c}', {_exact('NEW.' + c)}" for c in columns)
        old_key = ", ".join(f"'{c}', {_exact('OLD.' + c)}" for c in keys or columns)
        bodies = {
            "insert": f"'upsert', json_object({new_row})",
            "update": f"'upsert', json_object({new_row})",
            "delete": f"'delete', json_object({old_key})",
        }
        for op in _OPS:
            name = f"journal_{table}_{op}"
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            conn.execute(
                f"CREATE TRIGGER {name} AFTER {op.upper()} ON {table} BEGIN "
                f"INSERT INTO journal_pending(tbl, op, row) VALUES ('{table}', {bodies[op]}); END"
            )


def _exact(value: str) -> str:
    """SQL for a column's value in `json_object`: a float with all 17 digits (json_object
    alone keeps 15, and a replayed ledger must hold the same numbers)."""
    return f"CASE WHEN typeof({value})='real' THEN json(printf('%!.17g', {value})) ELSE {value} END"


# Writing ------------------------------------------------------------------------------------
def flush_pending(conn: Connection, spec: JournalSpec) -> None:
    """Inside a write transaction, before COMMIT: append the changed rows to their journals
    (synced) and record how far each journal now reaches."""
    rows = conn.execute("SELECT tbl, op, row FROM journal_pending ORDER BY id").fetchall()
    if not rows:
        return
    by_journal: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        name = spec.journal_of(row["tbl"])
        if name is not None:
            change = {"t": row["tbl"], "op": row["op"], "row": json.loads(row["row"])}
            by_journal.setdefault(name, []).append(change)
    for name, changes in by_journal.items():
        line = json.dumps({"at": time.time(), "changes": changes}, ensure_ascii=False)
        size = append_record(spec, name, line)
        _set_applied(conn, name, size)
    conn.execute("DELETE FROM journal_pending")


def append_record(spec: JournalSpec, name: str, line: str) -> int:
    """Append one line to journal `name`, synced; return the journal's new size. A full disk
    gives up the reserve once to make room; only if that is not enough does it fail."""
    path = spec.path(name)
    if not spec.folder.is_dir():
        spec.folder.mkdir(parents=True, exist_ok=True)
        _sync_folder(spec.folder.parent)
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    try:
        return _append(path, data)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not release_reserve(spec.folder):
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(
                    f"disk is full at {spec.folder}: this change could not be recorded",
                    hint="Free some space and run the command again.",
                ) from exc
            raise
    log.warning(
        "the disk holding %s is full: llmos used its reserve to record this change; "
        "free some space",
        spec.folder,
    )
    return _append(path, data)


def _append(path: Path, data: bytes) -> int:
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a line cut short by a crash stays a line of its own
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
        end = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if created:
        _sync_folder(path.parent)
    ensure_reserve(path.parent)
    return end


def start_journal_at(conn: Connection, name: str, size: int) -> None:
    """Inside a write transaction of a database being built from another's rows: it holds
    journal `name` up to byte `size` (what lies beyond is replayed when it is opened)."""
    for statement in _SUPPORT:
        conn.execute(statement)
    _set_applied(conn, name, size)


def fsync_folder(folder: Path) -> None:
    """Make a new name in `folder` durable (a file created or linked there)."""
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make a new file's name durable (its folder's entry), as fsync does for its data."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_reserve(folder: Path) -> None:
    """Keep the reserve file (space set aside for a full disk), if there is room for it."""
    reserve = folder / RESERVE_NAME
    if reserve.exists():
        return
    try:
        fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:
        os.close(fd)
        fd = -1
        reserve.unlink(missing_ok=True)
    finally:
        if fd >= 0:
            os.close(fd)


def release_reserve(folder: Path) -> bool:
    try:
        (folder / RESERVE_NAME).unlink()
    except OSError:
        return False
    return True


# Reading and applying ----------------------------------------------------------------------
def read_records(path: Path, start: int = 0) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """The lines of a journal from byte `start`: (offset after the line, record). A line
    that is not a JSON object (damaged) comes as None; a last line without its newline (a
    write cut short) is not returned."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(start)
        offset = start
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            offset += len(raw)
            try:
                record = json.loads(raw)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                log.warning("skipping a damaged line of %s", path)
                record = None
            yield offset, record


def _applied(conn: Connection, name: str) -> int | None:
    row = conn.execute("SELECT applied FROM journal_state WHERE name=?", (name,)).fetchone()
    return None if row is None else int(row[0])


def _set_applied(conn: Connection, name: str, size: int) -> None:
    conn.execute(
        "INSERT INTO journal_state(name, applied) VALUES(?, ?)"
        " ON CONFLICT(name) DO UPDATE SET applied=excluded.applied",
        (name, size),
    )


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def in_step(conn: Connection, spec: JournalSpec) -> bool:
    """Whether the database holds exactly what its journals say (the cheap check: one stat
    per journal and one query)."""
    applied = dict(conn.execute("SELECT name, applied FROM journal_state").fetchall())
    return all(_size(spec.path(name)) == applied.get(name) for name in spec.names)


def catch_up(conn: Connection, spec: JournalSpec, *, quiet: bool = False) -> None:
    """After opening: apply what the journals hold beyond the database (a commit that failed
    or never happened), or start journals that do not exist yet."""
    from llmos._internal.database import transaction

    if in_step(conn, spec):
        return
    with transaction(conn, flush=False):
        catch_up_locked(conn, spec, quiet=quiet)


def catch_up_locked(conn: Connection, spec: JournalSpec, *, quiet: bool = False) -> None:
    """`catch_up` inside a write transaction (nobody else writes meanwhile)."""
    for name in spec.names:
        path = spec.path(name)
        size, applied = _size(path), _applied(conn, name)
        if size == applied:
            continue
        if size is None or (applied is not None and size < applied):
            if applied:
                log.warning(
                    "the journal %s is missing or shorter than the database knew: it starts "
                    "again with a snapshot of the database",
                    path,
                )
            _set_applied(conn, name, _snapshot(conn, spec, name))
            continue
        count = _replay(conn, spec, path, applied or 0)
        if applied is None and count == 0 and _has_rows(conn, spec.tables_of(name)):
            # A journal beside a database older than journals: begin it with a snapshot.
            _set_applied(conn, name, _snapshot(conn, spec, name))
            continue
        if count and not quiet:
            log.warning("applied %d change(s) from %s that the database lacked", count, path)
    conn.execute("DELETE FROM journal_pending")  # what replaying just wrote is journaled


def _replay(conn: Connection, spec: JournalSpec, path: Path, start: int) -> int:
    columns: dict[str, set[str]] = {}
    count = 0
    end = start
    for offset, record in read_records(path, start):
        end = offset
        if record is None:
            continue
        count += 1
        snapshot = record.get("snapshot")
        if isinstance(snapshot, dict):
            for table, rows in snapshot.items():
                if spec.journal_of(table) is None:
                    continue
                conn.execute(f"DELETE FROM {table}")
                for row in rows:
                    _upsert(conn, table, row, columns)
            continue
        for change in record.get("changes") or ():
            table, row = change.get("t"), change.get("row")
            if spec.journal_of(str(table)) is None or not isinstance(row, dict):
                continue
            if change.get("op") == "delete":
                where = " AND ".join(
                    f"{key} IS ?" for key in row if _known(conn, table, key, columns)
                )
                if where:
                    conn.execute(
                        f"DELETE FROM {table} WHERE {where}",
                        [v for k, v in row.items() if _known(conn, table, k, columns)],
                    )
            else:
                _upsert(conn, str(table), row, columns)
    name = next(n for n in spec.names if spec.path(n) == path)
    _set_applied(conn, name, end)
    return count


def _known(conn: Connection, table: Any, column: str, cache: dict[str, set[str]]) -> bool:
    if table not in cache:
        cache[table] = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
    return column in cache[table]


def _upsert(conn: Connection, table: str, row: dict[str, Any], cache: dict[str, set[str]]) -> None:
    # Columns a later schema dropped (or a newer llmos added) are left out.
    data = {k: v for k, v in row.items() if _known(conn, table, k, cache)}
    if not data:
        return
    names = ", ".join(data)
    marks = ", ".join("?" for _ in data)
    conn.execute(f"INSERT OR REPLACE INTO {table}({names}) VALUES({marks})", list(data.values()))


def _has_rows(conn: Connection, tables: Sequence[str]) -> bool:
    return any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in tables)


def _snapshot(conn: Connection, spec: JournalSpec, name: str) -> int:
    """Append a snapshot of journal `name`'s tables; return the journal's new size."""
    tables = {
        table: [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]
        for table in spec.tables_of(name)
    }
    line = json.dumps({"at": time.time(), "snapshot": tables}, ensure_ascii=False)
    return append_record(spec, name, line)


# Lost and damaged databases -----------------------------------------------------------------
def journal_records(path: Path) -> int:
    return sum(1 for _, record in read_records(path) if record is not None)


def refuse_lost_database(db_path: Path, spec: JournalSpec) -> None:
    """`db_path` does not exist: refuse to start a new one where a journal shows one
    existed (a new ledger would silently reset the balance and forget the history)."""
    for name in spec.names:
        path = spec.path(name)
        if (_size(path) or 0) > 0:
            raise DamagedDatabaseError(
                f"the database {db_path} is missing, but its journal {path} shows it existed "
                f"({journal_records(path)} record(s)); llmos will not start a new one in its "
                "place",
                path=str(db_path),
                hint="Run `llmos doctor --repair` to rebuild it from the journal.",
            )


@frozen
class Rebuilt:
    """A database rebuilt from its journals, and where the one it replaced was moved."""

    path: Path
    moved_to: Path | None
    records: int


def rebuild(db_path: Path, migrations: Sequence[str], spec: JournalSpec) -> Rebuilt:
    """Move `db_path` aside (if it exists) and build it again from its journals."""
    from llmos._internal.database import _connect, _migrate, _prepare, move_aside, transaction

    moved = move_aside(db_path) if db_path.exists() else None
    conn = _connect(db_path, derived=False, read_only=False)
    try:
        _prepare(conn)
        _migrate(conn, migrations, spec)
        records = 0
        with transaction(conn, flush=False):
            for name in spec.names:
                path = spec.path(name)
                if _size(path) is not None:
                    records += _replay(conn, spec, path, 0)
                else:
                    _set_applied(conn, name, _snapshot(conn, spec, name))
            conn.execute("DELETE FROM journal_pending")
    finally:
        conn.close()
    return Rebuilt(db_path, moved, records)
