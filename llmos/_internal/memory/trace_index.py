"""A SQLite index over the trace files, so a lookup never parses every trace.

The Markdown files stay the source of truth; `state/index.db` is derived from them and can
be deleted at any time (`llmos traces reindex` rebuilds it). It stays in step with the files:

- saves through llmos update the index at once;
- files added, removed or renamed by hand change the folder's mtime, which the index
  compares on every open, and then it re-scans the folder's names and stats;
- every trace llmos is about to use is re-checked against its file (size and mtime), so a
  trace edited in place is re-read before it is trusted.

A goal is looked up by the *keys* of the templates it could bind (its canonical tokens, each
value either kept or replaced by its kind: llmos/_internal/memory/template.py `lookup_keys`): a few
B-tree lookups that find the templates, of goals and of their aliases, that could bind it;
each is then checked token by token. Similar goals
(worked examples, suggestions) are searched with FTS5 over their normalised words. The
signature is recomputed from the goal text, never taken from the front matter, so a
hand-edited file cannot claim another goal's identity. A file that cannot be read is kept in
`problems` with its error, so it is reported (once) instead of silently missing.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmos._internal.database import open_index
from llmos._internal.errors import TraceFormatError
from llmos._internal.frozen import frozen
from llmos._internal.memory.goal_form import Token, goal_signature
from llmos._internal.memory.matching import FILLER_WORDS
from llmos._internal.memory.template import Template, procedure_key
from llmos._internal.memory.trace import Trace, parse
from llmos._internal.text import normalize_goal

log = logging.getLogger(__name__)

# The index is derived: when its layout changes it is dropped and rebuilt from the files.
_LAYOUT = "4"
_DROP = """
DROP TABLE IF EXISTS traces_fts; DROP TABLE IF EXISTS traces; DROP TABLE IF EXISTS goal_keys;
DROP TABLE IF EXISTS problems; DROP TABLE IF EXISTS meta;
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    name TEXT PRIMARY KEY,          -- file name in the traces folder
    signature TEXT NOT NULL,
    goal_text TEXT NOT NULL,
    normalized TEXT NOT NULL,
    project TEXT NOT NULL,
    mode TEXT NOT NULL,
    success_rating REAL NOT NULL,
    usage_count INTEGER NOT NULL,
    estimated_cost_usd REAL NOT NULL,
    last_used TEXT NOT NULL,
    step_count INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    slot_values TEXT NOT NULL,      -- JSON: each slot's learned value
    procedure TEXT NOT NULL,        -- template.py's procedure_key, slots abstracted
    plain TEXT NOT NULL             -- the same with the values as they are
);
CREATE INDEX IF NOT EXISTS traces_by_signature ON traces(signature);
CREATE INDEX IF NOT EXISTS traces_by_procedure ON traces(procedure);
CREATE INDEX IF NOT EXISTS traces_by_plain ON traces(plain);
-- The templates a goal can be bound to: the trace's own and its aliases'.
CREATE TABLE IF NOT EXISTS goal_keys (
    key TEXT NOT NULL,              -- Template.key: literals as they are, slots as kinds
    name TEXT NOT NULL,
    alias TEXT,                     -- NULL: the trace's own goal
    template TEXT NOT NULL          -- Template.to_json()
);
CREATE INDEX IF NOT EXISTS goal_keys_by_key ON goal_keys(key);
CREATE INDEX IF NOT EXISTS goal_keys_by_name ON goal_keys(name);
CREATE TABLE IF NOT EXISTS problems (
    name TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS traces_fts
    USING fts5(normalized, content='traces', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS traces_ai AFTER INSERT ON traces BEGIN
    INSERT INTO traces_fts(rowid, normalized) VALUES (new.rowid, new.normalized);
END;
CREATE TRIGGER IF NOT EXISTS traces_ad AFTER DELETE ON traces BEGIN
    INSERT INTO traces_fts(traces_fts, rowid, normalized)
        VALUES ('delete', old.rowid, old.normalized);
    DELETE FROM goal_keys WHERE name = old.name;
END;
CREATE TRIGGER IF NOT EXISTS traces_au AFTER UPDATE ON traces BEGIN
    INSERT INTO traces_fts(traces_fts, rowid, normalized)
        VALUES ('delete', old.rowid, old.normalized);
    INSERT INTO traces_fts(rowid, normalized) VALUES (new.rowid, new.normalized);
END;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@frozen
class IndexedTrace:
    """A trace as the index holds it: enough to choose it without parsing its file."""

    name: str
    signature: str
    goal_text: str
    project: str
    mode: str
    success_rating: float
    usage_count: int
    estimated_cost_usd: float
    last_used: str
    step_count: int
    slot_values: tuple[str, ...] = ()


@frozen
class Unreadable:
    """A trace file that cannot be read, and why."""

    name: str
    error: str

    @property
    def signature(self) -> str:
        return self.name.removesuffix(".md")


@frozen
class Binding:
    """A goal bound to a trace's template: which values it gives which slot."""

    entry: IndexedTrace
    alias: str | None  # the alias whose template bound it; None: the trace's own goal
    values: dict[int, str]  # slot index -> the goal's value
    stamp: tuple[int, int] = (0, 0)  # the file's mtime and size when it was indexed


class TraceIndex:
    def __init__(self, db_path: Path, traces_dir: Path) -> None:
        self.traces_dir = traces_dir
        # Derived: a damaged file is moved aside and rebuilt (llmos/_internal/database.py).
        self._conn = open_index(db_path)
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        if self._meta("layout") != _LAYOUT:
            self._conn.executescript(_DROP + _SCHEMA)
            self._set_meta("layout", _LAYOUT)
        else:
            self._conn.executescript(_SCHEMA)
        self.sync()

    def close(self) -> None:
        self._conn.close()

    # Keeping in step with the files ----------------------------------------------------------
    def sync(self) -> None:
        """Pick up files added, removed or renamed since the index last saw the folder."""
        folder_mtime = self._folder_mtime()
        if folder_mtime == self._meta("folder_mtime_ns"):
            return
        on_disk = {}
        with os.scandir(self.traces_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".md") and entry.is_file():
                    stat = entry.stat()
                    on_disk[entry.name] = (stat.st_mtime_ns, stat.st_size)
        known = {
            row["name"]: (row["mtime_ns"], row["size"])
            for row in self._conn.execute(
                "SELECT name, mtime_ns, size FROM traces"
                " UNION ALL SELECT name, mtime_ns, size FROM problems"
            )
        }
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for name in known.keys() - on_disk.keys():
                self._forget_row(name)
            for name, stamp in on_disk.items():
                if known.get(name) != stamp:
                    self._index_file(name)
            self._set_meta("folder_mtime_ns", folder_mtime)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def rebuild(self) -> tuple[int, list[str]]:
        """Re-read every file. Returns how many traces were indexed and the unreadable files."""
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("DELETE FROM traces")
        self._conn.execute("DELETE FROM problems")
        self._conn.execute("DELETE FROM goal_keys")
        self._conn.execute("INSERT INTO traces_fts(traces_fts) VALUES ('rebuild')")
        problems = []
        count = 0
        for path in sorted(self.traces_dir.glob("*.md")):
            error = self._index_file(path.name)
            if error:
                problems.append(error)
            else:
                count += 1
        self._set_meta("folder_mtime_ns", self._folder_mtime())
        self._conn.execute("COMMIT")
        return count, problems

    def refresh(self, name: str) -> IndexedTrace | None:
        """Re-read one file if it changed (or vanished) since it was indexed; its entry now."""
        path = self.traces_dir / name
        row = self._conn.execute("SELECT * FROM traces WHERE name=?", (name,)).fetchone()
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._forget_row(name)
            return None
        if row is not None and (row["mtime_ns"], row["size"]) == (stat.st_mtime_ns, stat.st_size):
            return _row(row)
        if row is None:
            known = self._conn.execute(
                "SELECT mtime_ns, size FROM problems WHERE name=?", (name,)
            ).fetchone()
            if known is not None and tuple(known) == (stat.st_mtime_ns, stat.st_size):
                return None  # still the unreadable file it was
        self._index_file(name)
        row = self._conn.execute("SELECT * FROM traces WHERE name=?", (name,)).fetchone()
        return _row(row) if row is not None else None

    def note_saved(self, path: Path) -> None:
        """Called after llmos itself wrote `path`: index it and remember the folder's mtime."""
        self._index_file(path.name)
        self._set_meta("folder_mtime_ns", self._folder_mtime())

    def note_counted(self, path: Path, meta: dict[str, Any]) -> None:
        """Called after llmos rewrote `path` with new statistics only (a replay counted):
        the goal, slots and steps are as indexed, so only the figures change."""
        stat = path.stat()
        self._conn.execute(
            "UPDATE traces SET success_rating=?, usage_count=?, last_used=?, mtime_ns=?, size=?"
            " WHERE name=?",
            (
                meta["success_rating"],
                meta["usage_count"],
                meta["last_used"],
                stat.st_mtime_ns,
                stat.st_size,
                path.name,
            ),
        )
        self._set_meta("folder_mtime_ns", self._folder_mtime())

    def forget(self, name: str) -> None:
        self._forget_row(name)
        self._set_meta("folder_mtime_ns", self._folder_mtime())

    def _forget_row(self, name: str) -> None:
        self._conn.execute("DELETE FROM traces WHERE name=?", (name,))
        self._conn.execute("DELETE FROM problems WHERE name=?", (name,))

    # Queries ---------------------------------------------------------------------------------
    def bindings(self, keys: Sequence[str], tokens: Sequence[Token]) -> list[Binding]:
        """Every template under these keys that `tokens` fit, with the values they bind."""
        marks = ",".join("?" * len(keys))
        rows = self._conn.execute(
            "SELECT traces.*, goal_keys.alias, goal_keys.template FROM goal_keys"
            f" JOIN traces ON traces.name = goal_keys.name WHERE goal_keys.key IN ({marks})",
            tuple(keys),
        ).fetchall()
        found = []
        for row in rows:
            values = Template.from_json(row["template"]).bind(tokens)
            if values is not None:
                stamp = (row["mtime_ns"], row["size"])
                found.append(Binding(_row(row), row["alias"], values, stamp))
        return found

    def unchanged(self, name: str, stamp: tuple[int, int]) -> bool:
        """Whether the file `name` is still as it was indexed (one stat)."""
        try:
            info = (self.traces_dir / name).stat()
        except FileNotFoundError:
            return False
        return (info.st_mtime_ns, info.st_size) == stamp

    def same_procedure(self, key: str, plain: str) -> list[IndexedTrace]:
        """Traces whose steps are these (`plain`), or these with other slot values (`key`)."""
        rows = self._conn.execute(
            "SELECT * FROM traces WHERE plain=? OR procedure=?"
            " ORDER BY plain=? DESC, success_rating DESC",
            (plain, key, plain),
        ).fetchall()
        return [_row(row) for row in rows]

    def problems(self) -> list[Unreadable]:
        rows = self._conn.execute("SELECT name, error FROM problems ORDER BY name")
        return [Unreadable(row[0], row[1]) for row in rows]

    def problems_with_prefix(self, prefix: str) -> list[Unreadable]:
        rows = self._conn.execute(
            "SELECT name, error FROM problems WHERE name >= ? AND name < ? ORDER BY name",
            (prefix, prefix + "\uffff"),
        )
        return [Unreadable(row[0], row[1]) for row in rows]

    def by_signature(self, signature: str) -> list[IndexedTrace]:
        rows = self._conn.execute(
            "SELECT * FROM traces WHERE signature=? ORDER BY success_rating DESC", (signature,)
        ).fetchall()
        return [_row(row) for row in rows]

    def by_prefix(self, prefix: str) -> list[IndexedTrace]:
        """Traces whose signature (their id) starts with `prefix`."""
        rows = self._conn.execute(
            "SELECT * FROM traces WHERE signature >= ? AND signature < ? ORDER BY signature",
            (prefix, prefix + "\uffff"),
        ).fetchall()
        return [_row(row) for row in rows]

    def candidates(self, goal: str, *, limit: int = 20) -> list[IndexedTrace]:
        """Traces sharing at least one meaningful word with `goal`, best FTS rank first."""
        # Filler words match nearly every goal, and would only make the search slower.
        terms = sorted(set(normalize_goal(goal).split()) - FILLER_WORDS)
        if not terms:
            return []
        query = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        rows = self._conn.execute(
            "SELECT traces.* FROM traces_fts JOIN traces ON traces.rowid = traces_fts.rowid"
            " WHERE traces_fts MATCH ? ORDER BY rank LIMIT ?",
            (query, limit),
        ).fetchall()
        return [_row(row) for row in rows]

    def listing(
        self, *, project: str | None = None, search: str | None = None, limit: int = 1000
    ) -> list[IndexedTrace]:
        sql = "SELECT traces.* FROM traces"
        args: list[object] = []
        where = []
        if search:
            terms = normalize_goal(search).split()
            if terms:
                sql += " JOIN traces_fts ON traces.rowid = traces_fts.rowid"
                where.append("traces_fts MATCH ?")
                args.append(" AND ".join('"' + t.replace('"', '""') + '"' for t in terms))
        if project:
            where.append("traces.project = ?")
            args.append(project)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY traces.last_used DESC LIMIT ?"
        args.append(limit)
        return [_row(row) for row in self._conn.execute(sql, args).fetchall()]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM traces").fetchone()[0])

    # Internals -------------------------------------------------------------------------------
    def _index_file(self, name: str) -> str | None:
        path = self.traces_dir / name
        try:
            stat = path.stat()
            trace = parse(path.read_text(encoding="utf-8"), source=str(path))
        except FileNotFoundError:
            self._forget_row(name)
            return None
        except (OSError, UnicodeDecodeError, TraceFormatError) as exc:
            # Kept with its error, so listings report it once and `traces show` says why.
            error = exc.reason if isinstance(exc, TraceFormatError) else str(exc)
            log.debug("not indexing unreadable trace %s: %s", path, error)
            self._conn.execute("DELETE FROM traces WHERE name=?", (name,))
            self._conn.execute(
                "INSERT INTO problems(name, error, mtime_ns, size) VALUES (?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET error=excluded.error,"
                " mtime_ns=excluded.mtime_ns, size=excluded.size",
                (name, error, stat.st_mtime_ns, stat.st_size),
            )
            return f"{path}: {error}"
        self._conn.execute("DELETE FROM problems WHERE name=?", (name,))
        self._upsert(name, trace, stat.st_mtime_ns, stat.st_size)
        return None

    def _upsert(self, name: str, trace: Trace, mtime_ns: int, size: int) -> None:
        self._conn.execute(
            "INSERT INTO traces(name, signature, goal_text, normalized, project, mode,"
            " success_rating, usage_count, estimated_cost_usd, last_used, step_count, mtime_ns,"
            " size, slot_values, procedure, plain) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(name) DO UPDATE SET signature=excluded.signature,"
            " goal_text=excluded.goal_text, normalized=excluded.normalized,"
            " project=excluded.project, mode=excluded.mode,"
            " success_rating=excluded.success_rating, usage_count=excluded.usage_count,"
            " estimated_cost_usd=excluded.estimated_cost_usd, last_used=excluded.last_used,"
            " step_count=excluded.step_count, mtime_ns=excluded.mtime_ns, size=excluded.size,"
            " slot_values=excluded.slot_values, procedure=excluded.procedure,"
            " plain=excluded.plain",
            (
                name,
                goal_signature(trace.goal_text),
                trace.goal_text,
                normalize_goal(trace.goal_text),
                trace.project,
                trace.mode,
                trace.success_rating,
                trace.usage_count,
                trace.estimated_cost_usd,
                trace.last_used,
                len(trace.steps),
                mtime_ns,
                size,
                json.dumps([slot.value for slot in trace.slots]),
                procedure_key(trace.steps, trace.slots),
                procedure_key(trace.steps, ()),
            ),
        )
        self._conn.execute("DELETE FROM goal_keys WHERE name=?", (name,))
        keys: list[tuple[str | None, Template]] = [(None, trace.template)]
        keys += [(a.goal, t) for a, t in zip(trace.aliases, trace.alias_templates(), strict=True)]
        self._conn.executemany(
            "INSERT INTO goal_keys(key, name, alias, template) VALUES (?,?,?,?)",
            [(t.key, name, alias, t.to_json()) for alias, t in keys],
        )

    def _folder_mtime(self) -> str:
        return str(self.traces_dir.stat().st_mtime_ns)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )


def _row(row: sqlite3.Row) -> IndexedTrace:
    return IndexedTrace(
        name=row["name"],
        signature=row["signature"],
        goal_text=row["goal_text"],
        project=row["project"],
        mode=row["mode"],
        success_rating=row["success_rating"],
        usage_count=row["usage_count"],
        estimated_cost_usd=row["estimated_cost_usd"],
        last_used=row["last_used"],
        step_count=row["step_count"],
        slot_values=tuple(json.loads(row["slot_values"])),
    )
