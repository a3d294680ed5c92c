"""Opening llmos's SQLite databases the same way everywhere."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def open_database(db_path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """Open `db_path` and apply the migrations it has not seen yet.

    Autocommit (callers open their own transactions), rows by column name, WAL so readers
    never wait for a writer. `PRAGMA user_version` counts the migrations applied; each new
    one runs in its own transaction, so a crash never leaves half a schema. Migrations are
    only ever appended, never edited.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=10.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(migrations[version:], start=version + 1):
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    """A write transaction taken at once (BEGIN IMMEDIATE): all of it commits, or none."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
