"""A SQLite index over the memory files (facts and insights, every scope).

As with traces, the Markdown files are the source of truth and `state/memory_index.db` is
derived from them: delete it and it is rebuilt (`llmos memory reindex` does it on demand).
Memory files are few and small, so the index keeps in step the simple way: before every
query it stats each file in the memory folders (no file is read unless its size or mtime
changed), re-reads the ones that changed and forgets the ones that are gone. Saves through
llmos update the index at once.

Each item's text and tags are stored as search terms (`memory/terms.py`) in an FTS5 table;
its `fts5vocab` companion gives each term's document frequency for relevance weighting.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from llmos._internal.database import open_index
from llmos._internal.frozen import frozen
from llmos._internal.memory.memory_item import Kind, MemoryFormatError, MemoryItem, parse
from llmos._internal.memory.terms import terms

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE items (
    path TEXT PRIMARY KEY,          -- relative to the workspace root
    id TEXT NOT NULL,
    kind TEXT NOT NULL,             -- fact | insight
    project TEXT NOT NULL,          -- '' = the workspace
    tags TEXT NOT NULL,             -- space-separated
    text TEXT NOT NULL,
    terms TEXT NOT NULL,            -- memory/terms.py terms of text and tags
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    trace TEXT NOT NULL,            -- an insight's goal signature
    distilled INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX items_by_id ON items(id);
CREATE VIRTUAL TABLE items_fts USING fts5(terms, content='items', content_rowid='rowid');
CREATE VIRTUAL TABLE items_vocab USING fts5vocab(items_fts, 'row');
CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN
    INSERT INTO items_fts(rowid, terms) VALUES (new.rowid, new.terms);
END;
CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
END;
CREATE TRIGGER items_au AFTER UPDATE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
    INSERT INTO items_fts(rowid, terms) VALUES (new.rowid, new.terms);
END;
"""


@frozen
class Folder:
    """A memory folder: where items of one kind and one scope live."""

    path: Path
    kind: Kind
    project: str | None


@frozen
class IndexedItem:
    """A fact or an insight as the index holds it, so a query reads no file."""

    path: Path
    id: str
    kind: Kind
    project: str | None
    tags: tuple[str, ...]
    text: str
    terms: frozenset[str]
    created_at: str
    source: str
    trace: str
    distilled: bool

    @property
    def scope(self) -> str:
        return "workspace" if self.project is None else f"project {self.project}"


class MemoryIndex:
    def __init__(self, db_path: Path, root: Path) -> None:
        self.root = root
        # Derived: a damaged file is moved aside and rebuilt (llmos/_internal/database.py).
        self._conn = open_index(db_path)
        if self._conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
            self._recreate()

    def close(self) -> None:
        self._conn.close()

    def _recreate(self) -> None:
        # Derived data: an index of another shape is dropped and rebuilt from the files.
        drops = "".join(
            f"DROP TABLE IF EXISTS {table};\n" for table in ("items_vocab", "items_fts", "items")
        )
        self._conn.executescript(
            f"BEGIN IMMEDIATE;\n{drops}{_SCHEMA}\nPRAGMA user_version={_SCHEMA_VERSION};\nCOMMIT;"
        )

    # Keeping in step with the files ----------------------------------------------------------
    def sync(self, folders: Iterable[Folder]) -> list[str]:
        """Re-read changed files, forget removed ones. Returns the unreadable files."""
        on_disk: dict[str, tuple[int, int, Folder]] = {}
        for folder in folders:
            try:
                entries = list(os.scandir(folder.path))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.endswith(".md") and not entry.name.startswith("."):
                    try:
                        stat = entry.stat()
                    except FileNotFoundError:
                        continue
                    if entry.is_file():
                        rel = self._rel(Path(entry.path))
                        on_disk[rel] = (stat.st_mtime_ns, stat.st_size, folder)
        known = {
            row["path"]: (row["mtime_ns"], row["size"])
            for row in self._conn.execute("SELECT path, mtime_ns, size FROM items")
        }
        gone = known.keys() - on_disk.keys()
        changed = [rel for rel, (m, s, _) in on_disk.items() if known.get(rel) != (m, s)]
        if not gone and not changed:
            return []
        problems: list[str] = []
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for rel in gone:
                self._conn.execute("DELETE FROM items WHERE path=?", (rel,))
            for rel in changed:
                error = self._index_file(rel, on_disk[rel][2])
                if error:
                    problems.append(error)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return problems

    def rebuild(self, folders: Iterable[Folder]) -> tuple[int, list[str]]:
        self._recreate()
        problems = self.sync(folders)
        return self.count(), problems

    def note_saved(self, path: Path, item: MemoryItem) -> None:
        """Called after llmos itself wrote `item` to `path`."""
        stat = path.stat()
        self._upsert(self._rel(path), item, stat.st_mtime_ns, stat.st_size)

    def forget(self, path: Path) -> None:
        self._conn.execute("DELETE FROM items WHERE path=?", (self._rel(path),))

    # Queries ---------------------------------------------------------------------------------
    def search(
        self,
        query_terms: Sequence[str],
        *,
        projects: Collection[str | None] | None = None,
        kinds: Collection[Kind] = ("fact", "insight"),
        include_distilled: bool = True,
        limit: int = 50,
    ) -> list[IndexedItem]:
        """Items sharing at least one term with the query, best FTS rank first."""
        if not query_terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in query_terms)
        sql = (
            "SELECT items.* FROM items_fts JOIN items ON items.rowid = items_fts.rowid"
            " WHERE items_fts MATCH ?"
        )
        args: list[object] = [match]
        sql, args = self._filters(sql, args, projects, kinds, include_distilled)
        sql += " ORDER BY rank LIMIT ?"
        args.append(limit)
        return [self._item(row) for row in self._conn.execute(sql, args)]

    def listing(
        self,
        *,
        projects: Collection[str | None] | None = None,
        kinds: Collection[Kind] = ("fact", "insight"),
        tag: str | None = None,
        include_distilled: bool = True,
        limit: int = 1000,
    ) -> list[IndexedItem]:
        sql, args = self._filters(
            "SELECT * FROM items WHERE 1", [], projects, kinds, include_distilled
        )
        if tag:
            sql += " AND (' ' || tags || ' ') LIKE ?"
            args.append(f"% {tag} %")
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        args.append(limit)
        return [self._item(row) for row in self._conn.execute(sql, args)]

    def by_id_prefix(self, prefix: str) -> list[IndexedItem]:
        rows = self._conn.execute(
            "SELECT * FROM items WHERE id >= ? AND id < ? ORDER BY id, path",
            (prefix, prefix + "\uffff"),
        )
        return [self._item(row) for row in rows]

    def doc_freq(self, query_terms: Sequence[str]) -> dict[str, int]:
        """In how many items each term appears."""
        if not query_terms:
            return {}
        marks = ",".join("?" * len(query_terms))
        rows = self._conn.execute(
            f"SELECT term, doc FROM items_vocab WHERE term IN ({marks})", list(query_terms)
        )
        return {row["term"]: int(row["doc"]) for row in rows}

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # Internals -------------------------------------------------------------------------------
    @staticmethod
    def _filters(
        sql: str,
        args: list[object],
        projects: Collection[str | None] | None,
        kinds: Collection[Kind],
        include_distilled: bool,
    ) -> tuple[str, list[object]]:
        if projects is not None:
            scopes = ["" if p is None else p for p in projects]
            sql += f" AND items.project IN ({','.join('?' * len(scopes))})" if scopes else " AND 0"
            args += scopes
        sql += f" AND items.kind IN ({','.join('?' * len(kinds))})"
        args += list(kinds)
        if not include_distilled:
            sql += " AND items.distilled = 0"
        return sql, args

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _index_file(self, rel: str, folder: Folder) -> str | None:
        path = self.root / rel
        try:
            stat = path.stat()
            item = parse(
                path.read_text(encoding="utf-8"),
                path=path,
                kind=folder.kind,
                project=folder.project,
            )
        except FileNotFoundError:
            self._conn.execute("DELETE FROM items WHERE path=?", (rel,))
            return None
        except (OSError, UnicodeDecodeError, MemoryFormatError, ValueError, TypeError) as exc:
            log.warning("not indexing unreadable memory file %s: %s", path, exc)
            self._conn.execute("DELETE FROM items WHERE path=?", (rel,))
            return f"{path}: {exc}"
        self._upsert(rel, item, stat.st_mtime_ns, stat.st_size)
        return None

    def _upsert(self, rel: str, item: MemoryItem, mtime_ns: int, size: int) -> None:
        searchable = terms(item.text + " " + " ".join(item.tags))
        self._conn.execute(
            "INSERT INTO items(path, id, kind, project, tags, text, terms, created_at, source,"
            " trace, distilled, mtime_ns, size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(path) DO UPDATE SET id=excluded.id, kind=excluded.kind,"
            " project=excluded.project, tags=excluded.tags, text=excluded.text,"
            " terms=excluded.terms, created_at=excluded.created_at, source=excluded.source,"
            " trace=excluded.trace, distilled=excluded.distilled, mtime_ns=excluded.mtime_ns,"
            " size=excluded.size",
            (
                rel,
                item.id,
                item.kind,
                item.project or "",
                " ".join(item.tags),
                item.text,
                " ".join(searchable),
                item.created_at,
                item.source,
                item.trace,
                int(item.distilled),
                mtime_ns,
                size,
            ),
        )

    def _item(self, row: sqlite3.Row) -> IndexedItem:
        return IndexedItem(
            path=self.root / row["path"],
            id=row["id"],
            kind=row["kind"],
            project=row["project"] or None,
            tags=tuple(row["tags"].split()),
            text=row["text"],
            terms=frozenset(row["terms"].split()),
            created_at=row["created_at"],
            source=row["source"],
            trace=row["trace"],
            distilled=bool(row["distilled"]),
        )
