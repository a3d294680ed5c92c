"""The L4 memory store: facts and insights as files, with their index.

Scopes: the workspace (`memories/facts/`, `memories/insights/`), whose items every run
recalls, and each project (`projects/NAME/memory/facts/`, `.../insights/`), whose items
only that project's runs recall. `MemoryStore` writes and removes the files (atomically)
and keeps the index (`memory/memory_index.py`) in step; it also ranks items for a query
(`memory/terms.py`), which `llmos memory search` and recall share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.memory.memory_index import Folder, IndexedItem, MemoryIndex
from llmos._internal.memory.memory_item import (
    FOLDER_OF_KIND,
    KINDS,
    Kind,
    MemoryItem,
    check_id,
    clean_tags,
    clean_text,
    new_id,
    parse,
    render,
)
from llmos._internal.memory.terms import idf_weights, relevance, terms
from llmos._internal.usage import now_iso
from llmos._internal.workspace import Workspace, validate_project_name


@frozen
class Scored:
    """A memory item with its relevance to a query."""

    item: IndexedItem
    score: float


class MemoryStore:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.index = MemoryIndex(ws.state_dir / "memory_index.db", ws.root)
        self.problems: list[str] = []  # unreadable files seen by the last sync

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Where items live --------------------------------------------------------------------------
    def folder(self, kind: Kind, project: str | None) -> Path:
        if project is None:
            return self.ws.memories / FOLDER_OF_KIND[kind]
        name = validate_project_name(project)
        return self.ws.projects_dir / name / "memory" / FOLDER_OF_KIND[kind]

    def folders(self) -> Iterator[Folder]:
        for kind in KINDS:
            yield Folder(self.folder(kind, None), kind, None)
        for project in self.ws.project_names():
            if not _valid_project(project):
                continue  # a folder made by hand that llmos would never name a project
            for kind in KINDS:
                yield Folder(self.folder(kind, project), kind, project)

    def sync(self) -> None:
        """Bring the index in step with the files; every query below starts with it."""
        self.problems = self.index.sync(self.folders())

    # Writing ---------------------------------------------------------------------------------
    def add_fact(
        self,
        text: str,
        *,
        project: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        source: str = "user",
        meta: dict[str, Any] | None = None,
    ) -> tuple[MemoryItem, Path]:
        item = MemoryItem(
            id=new_id(),
            kind="fact",
            text=clean_text(text),
            project=project,
            tags=clean_tags(tags),
            source=source,
            meta=dict(meta or {}),
        )
        return item, self.write(item)

    def write(self, item: MemoryItem) -> Path:
        """Write `item` to its file (replacing an earlier version) and index it."""
        path = self.folder(item.kind, item.project) / f"{check_id(item.id)}.md"
        if item.project is not None:
            self.ws.project_dir(item.project)  # a project's memory makes it a project
        atomic_write_text(path, render(item))
        self.index.note_saved(path, item)
        return path

    def load(self, entry: IndexedItem) -> MemoryItem:
        try:
            text = entry.path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            self.sync()
            raise UsageError(f"memory {entry.id} is gone: {entry.path} was removed") from exc
        return parse(text, path=entry.path, kind=entry.kind, project=entry.project)

    def mark_distilled(self, entry: IndexedItem, *, run_id: str, facts: list[str]) -> None:
        item = self.load(entry)
        meta = {**item.meta, "distilled_at": now_iso(), "distilled_by": run_id}
        meta["distilled_into"] = facts
        self.write(dataclasses.replace(item, meta=meta))

    def remove(self, entry: IndexedItem) -> None:
        entry.path.unlink(missing_ok=True)
        self.index.forget(entry.path)

    # Reading ---------------------------------------------------------------------------------
    def resolve(self, item_id: str, *, project: str | None = None) -> IndexedItem:
        """An item by its id or a unique prefix of it (`project` narrows the search)."""
        item_id = item_id.strip()
        check_id(item_id)
        self.sync()
        found = [
            entry
            for entry in self.index.by_id_prefix(item_id)
            if project is None or entry.project == project
        ]
        exact = [entry for entry in found if entry.id == item_id]
        found = exact or found
        if not found:
            raise UsageError(f"no memory has the id {item_id}", hint="See `llmos memory list`.")
        if len(found) > 1:
            names = ", ".join(f"{e.id} ({e.kind}, {e.scope})" for e in found[:5])
            raise UsageError(
                f"memory id {item_id} is ambiguous: {names}",
                hint="Give more of the id, or --project to choose the scope.",
            )
        return found[0]

    def search(
        self,
        query: str,
        *,
        projects: Collection[str | None] | None = None,
        kinds: Collection[Kind] = KINDS,
        include_distilled: bool = True,
        limit: int = 50,
    ) -> list[Scored]:
        """Items relevant to `query`, most relevant first (relevance from 0 to 1)."""
        wanted = terms(query)
        self.sync()
        found = self.index.search(
            wanted,
            projects=projects,
            kinds=kinds,
            include_distilled=include_distilled,
            limit=max(limit, 50),
        )
        weights = self.weights(wanted)
        scored = [Scored(entry, relevance(weights, entry.terms)) for entry in found]
        scored.sort(key=lambda s: (s.score, s.item.created_at), reverse=True)
        return scored[:limit]

    def listing(
        self,
        *,
        projects: Collection[str | None] | None = None,
        kinds: Collection[Kind] = KINDS,
        tag: str | None = None,
        include_distilled: bool = True,
        limit: int = 1000,
    ) -> list[IndexedItem]:
        """Items, newest first."""
        self.sync()
        return self.index.listing(
            projects=projects,
            kinds=kinds,
            tag=tag,
            include_distilled=include_distilled,
            limit=limit,
        )

    def weights(self, query_terms: list[str]) -> dict[str, float]:
        """IDF weights of the query's terms over this workspace's memory."""
        return idf_weights(query_terms, self.index.doc_freq(query_terms), self.index.count())


def _valid_project(name: str) -> bool:
    try:
        validate_project_name(name)
    except UsageError:
        return False
    return True


def scopes_for(project: str | None) -> list[str | None] | None:
    """What a run in `project` sees: the workspace's items and the project's own."""
    return None if project is None else [None, validate_project_name(project)]
