"""Opening llmos's SQLite databases the same way everywhere, and safely.

Two kinds of database live in `state/`:

- **primary** ones hold what exists nowhere else: the ledger (`llmos.db`), the audit trail
  (`audit.db`) and the schedule (`schedule.db`). Each of their write transactions is also
  appended to a journal (`llmos/_internal/journal.py`) from which `llmos doctor --repair` rebuilds
  them; a damaged one is reported, never replaced, and a missing one whose journal shows it
  existed is refused rather than started afresh.
- **derived** ones are indexes of files (`index.db`, `memory_index.db`): a damaged one is
  moved aside and rebuilt from the files.

Every SQLite failure a user can meet (a full disk, a read-only folder, a damaged file, a
database held by another process) leaves here as a `WorkspaceStateError` naming the file
and what to do, never as a raw `sqlite3` traceback: connections are made with a factory
whose methods translate them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from llmos._internal.errors import (
    DamagedDatabaseError,
    DiskFullError,
    ReadOnlyWorkspaceError,
    WorkspaceStateError,
)

if TYPE_CHECKING:
    from llmos._internal.journal import JournalSpec

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_SECS = 30.0
_MAGIC = b"SQLite format 3\x00"
# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_NOTADB = 26
_DAMAGED = (_SQLITE_CORRUPT, _SQLITE_NOTADB)


# Errors -------------------------------------------------------------------------------------
def _what_to_do(path: Path, derived: bool) -> str:
    if derived:
        return (
            "It is an index of files: llmos moved it aside and rebuilds it on the next "
            "command (`llmos traces reindex` / `llmos memory reindex` do it now)."
        )
    return (
        f"Run `llmos doctor --repair`: it moves {path.name} aside and rebuilds it from "
        f"its journal in {path.parent / 'journal'}."
    )


def state_error(exc: sqlite3.Error, path: Path, *, derived: bool = False) -> Exception:
    """What a user should be told about `exc`, raised on the database at `path`: a
    `WorkspaceStateError`, or `exc` itself when it is a bug (bad SQL, a missing table)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code == _SQLITE_FULL or "disk is full" in text:
        return DiskFullError(
            f"disk is full at {path.parent}: cannot write {path.name}",
            hint="Free some space and run the command again; nothing was half-written.",
        )
    if code in _DAMAGED or "malformed" in text or "not a database" in text:
        if derived:
            moved = move_aside(path)
            where = f"; moved aside to {moved}" if moved else ""
            return DamagedDatabaseError(
                f"the index {path} is damaged ({text}){where}",
                path=str(path),
                hint=_what_to_do(path, derived),
            )
        return DamagedDatabaseError(
            f"the database {path} is damaged ({text})",
            path=str(path),
            hint=_what_to_do(path, derived),
        )
    if code in (_SQLITE_READONLY, _SQLITE_PERM) or "readonly" in text:
        return ReadOnlyWorkspaceError(
            f"cannot write {path}: {read_only_reason(path.parent)}",
            hint="Make the workspace writable, or use another one (--workspace DIR).",
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return WorkspaceStateError(
            f"the database {path} stayed locked by another llmos process for "
            f"{_BUSY_TIMEOUT_SECS:g} s",
            hint="Try again when the other command has finished.",
        )
    if code in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return WorkspaceStateError(
            f"cannot read or write the database {path} ({text})",
            hint="Check the file and its folder (permissions, the disk); "
            "`llmos doctor` looks at the workspace.",
        )
    return exc


def read_only_reason(folder: Path) -> str:
    """Why `folder` cannot be written, in a few words (for messages)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return "it cannot be reached"
    if st.f_flag & os.ST_RDONLY:
        return "it is on a read-only file system"
    return "it is read-only (permissions)"


class _Cursor(sqlite3.Cursor):
    """A cursor whose failures name their database (see `state_error`)."""

    def _fail(self, exc: sqlite3.Error) -> NoReturn:
        conn = self.connection
        raise state_error(exc, conn.llmos_path, derived=conn.llmos_derived) from exc  # type: ignore[attr-defined]

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        try:
            super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def executescript(self, sql_script: str, /) -> _Cursor:
        try:
            super().executescript(sql_script)
        except sqlite3.Error as exc:
            self._fail(exc)
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.Error as exc:
            self._fail(exc)

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            self._fail(exc)


class Connection(sqlite3.Connection):
    """`sqlite3.Connection` whose statements fail with `WorkspaceStateError`s that name the
    file. `journal` is set on a primary database's connection (see `transaction`)."""

    llmos_path: Path
    llmos_derived: bool = False
    journal: JournalSpec | None = None

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)


# Opening ------------------------------------------------------------------------------------
def header_problem(path: Path) -> str | None:
    """What is wrong with the database file at `path` that its first 100 bytes show (not a
    SQLite file, cut short), or None. Cheap: one stat and one small read."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None  # created, not yet written: a new database
        with path.open("rb") as handle:
            head = handle.read(100)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if len(head) < 100 or not head.startswith(_MAGIC):
        return "it is not a SQLite database"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return "its header is damaged"
    pages = int.from_bytes(head[28:32], "big")
    counter_valid = head[24:28] == head[92:96]
    # Another process may be writing, checkpointing or closing it meanwhile (the last to
    # close deletes the -wal): never fail on a file that vanished, never judge a file that
    # was growing while it was read.
    wal = path.with_name(path.name + "-wal")
    try:
        wal_pending = wal.stat().st_size > 0  # pages may live there for now
    except FileNotFoundError:
        wal_pending = False
    except OSError:
        wal_pending = True  # cannot tell: do not judge the size
    if pages and counter_valid and not wal_pending:
        with contextlib.suppress(OSError):  # a checkpoint that ran meanwhile is done now
            size = max(size, path.stat().st_size)
        if size < pages * page_size:
            return f"it is cut short ({size} of {pages * page_size} bytes)"
    return None


def move_aside(path: Path) -> Path | None:
    """Rename a damaged database (and its -wal and -shm) out of the way, keeping it for
    inspection: `NAME.damaged-<time>`. Returns the new name, or None if nothing moved."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
    moved = None
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            source.replace(target.with_name(target.name + suffix))
            if not suffix:
                moved = target
    return moved


def remove_database(path: Path) -> None:
    """Delete a derived database and its -wal and -shm (to rebuild it from its files)."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def writable(folder: Path) -> bool:
    """Whether llmos may create and change files in `folder` (root included: a read-only
    mount stops root too)."""
    return os.access(folder, os.W_OK | os.X_OK)


def _connect(path: Path, *, derived: bool, read_only: bool) -> Connection:
    if read_only:
        # An index is built afresh in memory; a missing database is an empty one there.
        uri = "file::memory:" if derived or not path.exists() else f"file:{path}?mode=ro"
    else:
        uri = f"file:{path}"
    try:
        conn = sqlite3.connect(
            uri,
            timeout=_BUSY_TIMEOUT_SECS,
            isolation_level=None,
            uri=True,
            factory=Connection,
        )
    except sqlite3.Error as exc:
        raise state_error(exc, path, derived=derived) from exc
    assert isinstance(conn, Connection)
    conn.llmos_path = path
    conn.llmos_derived = derived
    conn.row_factory = sqlite3.Row
    if uri.endswith("?mode=ro"):
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except WorkspaceStateError:
            # A WAL database whose -shm cannot be made (a read-only folder): read the file
            # as it is. Nothing can write it meanwhile: nobody can write the folder.
            conn.close()
            return _connect_uri(f"file:{path}?immutable=1", path, derived)
    return conn


def _connect_uri(uri: str, path: Path, derived: bool) -> Connection:
    try:
        conn = sqlite3.connect(
            uri, timeout=_BUSY_TIMEOUT_SECS, isolation_level=None, uri=True, factory=Connection
        )
    except sqlite3.Error as exc:
        raise state_error(exc, path, derived=derived) from exc
    assert isinstance(conn, Connection)
    conn.llmos_path = path
    conn.llmos_derived = derived
    conn.row_factory = sqlite3.Row
    return conn


def _retry_busy(action: Callable[[], Any]) -> Any:
    """Run `action`, retrying while another process holds a lock SQLite does not wait
    for by itself (changing the journal mode, a migration started at the same moment)."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECS
    delay = 0.01
    while True:
        try:
            return action()
        except WorkspaceStateError as exc:
            cause = exc.__cause__
            code = (getattr(cause, "sqlite_errorcode", None) or 0) & 0xFF
            if code not in (_SQLITE_BUSY, _SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _prepare(conn: Connection, *, derived: bool = False) -> None:
    _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
    # A derived index is never synced to disk: were an OS crash to damage it, it is moved
    # aside and rebuilt from its files (`state_error`); syncing it cost every command that
    # wrote to it (a replay counting a use) a checkpoint's fsync at exit.
    conn.execute(f"PRAGMA synchronous={'OFF' if derived else 'NORMAL'}")


def open_database(
    db_path: Path,
    migrations: Sequence[str],
    *,
    journal: JournalSpec | None = None,
) -> Connection:
    """Open the primary database `db_path` and apply the migrations it has not seen yet.

    Autocommit (callers open their own transactions with `transaction`), rows by column
    name, WAL so readers never wait for a writer. `PRAGMA user_version` counts the
    migrations applied; they run in one `BEGIN IMMEDIATE` transaction that reads the version
    again once it holds the write lock, so processes opening a new workspace at the same
    moment migrate it once. Migrations are only ever appended, never edited.

    With a `journal`, the database is the materialised view of that journal: it is brought
    up to date from it, and a database that is missing while its journal shows it existed
    is refused (`llmos doctor --repair` rebuilds it). A folder llmos cannot write is opened
    read-only (a missing database is then an empty one in memory).
    """
    problem = header_problem(db_path)
    if problem:
        raise DamagedDatabaseError(
            f"the database {db_path} is damaged: {problem}",
            path=str(db_path),
            hint=_what_to_do(db_path, False),
        )
    folder = db_path.parent
    read_only = folder.is_dir() and not writable(folder)
    if journal is not None and not db_path.exists():
        from llmos._internal.journal import refuse_lost_database

        refuse_lost_database(db_path, journal)
    if not read_only:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise_os_error(exc, folder)
    conn = _connect(db_path, derived=False, read_only=read_only)
    try:
        if read_only:
            if not db_path.exists():
                _migrate(conn, migrations)
            return conn
        _prepare(conn)
        from llmos._internal.journal import triggers_installed

        behind = conn.execute("PRAGMA user_version").fetchone()[0] < len(migrations)
        if behind or (journal is not None and not triggers_installed(conn, journal)):
            _retry_busy(lambda: _migrate(conn, migrations, journal))
        if journal is not None:
            from llmos._internal.journal import catch_up

            conn.journal = journal
            catch_up(conn, journal)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(
    conn: Connection, migrations: Sequence[str], journal: JournalSpec | None = None
) -> None:
    with transaction(conn, flush=False):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(migrations[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
        if journal is not None:
            from llmos._internal.journal import install_triggers

            install_triggers(conn, journal, schema_changed=version < len(migrations))


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one by one (executescript would commit)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def open_index(db_path: Path) -> Connection:
    """Open the derived database `db_path` (an index rebuilt from files). A damaged one is
    moved aside first and a new, empty one opened: its owner fills it from the files. In a
    folder llmos cannot write, the index is built in memory (its owner fills it)."""
    folder = db_path.parent
    read_only = folder.is_dir() and not writable(folder)
    problem = None if read_only else header_problem(db_path)
    if problem:
        moved = move_aside(db_path)
        log.warning(
            "the index %s was damaged (%s): moved aside to %s; rebuilding it from the files",
            db_path,
            problem,
            moved,
        )
    if not read_only:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise_os_error(exc, folder)
    conn = _connect(db_path, derived=True, read_only=read_only)
    if not read_only:
        try:
            _prepare(conn, derived=True)
        except BaseException:
            conn.close()
            raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, flush: bool = True) -> Iterator[sqlite3.Cursor]:
    """A write transaction taken at once (BEGIN IMMEDIATE): all of it commits, or none.

    On a journaled database the rows it changed are appended to the journal (and synced)
    before the commit, so a commit that fails is not lost: the next transaction or open
    applies it from the journal. When it fails for lack of space, the journal's reserve
    is given up and the change applied from the journal at once."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    journaled = conn if flush and isinstance(conn, Connection) and conn.journal else None
    spec = journaled.journal if journaled is not None else None
    written = False  # the change is in its journal
    try:
        if journaled is not None and spec is not None:
            from llmos._internal.journal import catch_up_locked, in_step

            # What another process journaled but could not commit comes first.
            if not in_step(journaled, spec):
                catch_up_locked(journaled, spec)
        yield cur
        if journaled is not None and spec is not None:
            from llmos._internal.journal import flush_pending

            flush_pending(journaled, spec)
            written = True
        cur.execute("COMMIT")
    except BaseException as exc:
        # SQLite may already have rolled back (a full disk does): a ROLLBACK then fails
        # with "no transaction is active" and would hide the real error.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error, WorkspaceStateError):
                conn.execute("ROLLBACK")
        if not (written and isinstance(exc, DiskFullError) and journaled and spec):
            raise
        _commit_from_journal(journaled, spec, exc)


def _commit_from_journal(conn: Connection, spec: JournalSpec, full: DiskFullError) -> None:
    """The commit of a journaled change failed for lack of space: give up the journal's
    reserve and apply the change from the journal (where it already is)."""
    from llmos._internal.journal import catch_up, release_reserve

    released = release_reserve(spec.folder)
    try:
        if not released:
            raise full
        catch_up(conn, spec, quiet=True)
    except DiskFullError as exc:
        raise DiskFullError(
            f"disk is full at {spec.folder.parent}: the change is kept in its journal "
            f"({spec.folder}) and reaches {conn.llmos_path.name} once there is room",
            hint="Free some space; the next llmos command applies it. Nothing is lost.",
        ) from exc
    log.warning(
        "the disk holding %s is full: llmos used its reserve to record this change; "
        "free some space",
        conn.llmos_path,
    )


def raise_os_error(exc: OSError, path: Path) -> NoReturn:
    """Re-raise an OSError met on `path` as the `WorkspaceStateError` a user can act on
    (full disk, read-only), or as it is."""
    error = os_state_error(exc, path)
    if error is exc:
        raise exc
    raise error from exc


def os_state_error(exc: OSError, path: Path | str | None = None) -> Exception:
    """The `WorkspaceStateError` for a failed file operation (ENOSPC, EROFS, EACCES...),
    or `exc` itself when it is something else."""
    import errno

    where = Path(path) if path is not None else Path(exc.filename or ".")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"disk is full at {where}: {exc.strerror}",
            hint="Free some space and run the command again; nothing was half-written.",
        )
    if exc.errno == errno.EROFS:
        return ReadOnlyWorkspaceError(
            f"cannot write {where}: it is on a read-only file system",
            hint="Make the workspace writable, or use another one (--workspace DIR).",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ReadOnlyWorkspaceError(
            f"cannot write {where}: permission denied",
            hint="Make the workspace writable, or use another one (--workspace DIR).",
        )
    return exc
