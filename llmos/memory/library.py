"""The trace library: the trace files, their index, and the questions llmos asks of them
(which trace matches this goal? which trace is this id? how did replaying it go?)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from llmos.errors import TraceFormatError, UsageError
from llmos.memory.matching import confidence
from llmos.memory.trace import Trace, goal_signature, now_iso, success_rating
from llmos.memory.trace_index import IndexedTrace, TraceIndex
from llmos.memory.trace_store import TraceStore
from llmos.workspace import Workspace


@dataclass(frozen=True)
class Match:
    entry: IndexedTrace
    confidence: float


class TraceLibrary:
    def __init__(self, ws: Workspace) -> None:
        self.store = TraceStore(ws.traces_dir)
        self.index = TraceIndex(ws.state_dir / "index.db", ws.traces_dir)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> TraceLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def path_of(self, entry: IndexedTrace) -> Path:
        return self.store.folder / entry.name

    def save(self, trace: Trace) -> Path:
        path = self.store.save(trace)
        self.index.note_saved(path)
        return path

    def load(self, entry: IndexedTrace) -> Trace:
        """The trace behind an index entry, read from its file (the source of truth)."""
        path = self.path_of(entry)
        try:
            return self.store.load_file(path)
        except FileNotFoundError as exc:
            self.index.refresh(entry.name)
            raise UsageError(f"trace {entry.signature} is gone: {path} was removed") from exc
        except UnicodeDecodeError as exc:
            raise TraceFormatError(f"not UTF-8 text ({exc})", path=str(path)) from exc

    # Matching ------------------------------------------------------------------------------
    def matches(
        self,
        goal: str,
        *,
        project: str | None = None,
        limit: int = 5,
        near_when_exact: bool = False,
    ) -> list[Match]:
        """Learned goals like `goal`, most confident first (the project's own first on ties).

        An exact match is a B-tree lookup; near matches need a full-text search, which
        grows with the library, so it is skipped when an exact match exists unless
        `near_when_exact` asks for it.
        """
        signature = goal_signature(goal)
        self.index.sync()  # one stat of the folder, unless files came or went
        self.index.refresh(f"{signature}.md")  # the usual home of an exact match: re-check it
        found: dict[str, Match] = {}
        for entry in self.index.by_signature(signature):
            found[entry.name] = Match(entry, 1.0)
        near = self.index.candidates(goal) if near_when_exact or not found else []
        for candidate in near:
            if candidate.name in found:
                continue
            # Re-checked against its file before it is trusted: it may have been edited.
            fresh = self.index.refresh(candidate.name)
            if fresh is not None:
                score = 1.0 if fresh.signature == signature else confidence(goal, fresh.goal_text)
                found[fresh.name] = Match(fresh, score)
        ranked = sorted(
            found.values(),
            key=lambda m: (m.confidence, m.entry.project == project, m.entry.success_rating),
            reverse=True,
        )
        return ranked[:limit]

    # Ids -------------------------------------------------------------------------------------
    def resolve(self, trace_id: str) -> IndexedTrace:
        """A trace by its id: its goal signature, or a unique prefix of it."""
        trace_id = trace_id.strip().lower()
        if not trace_id or any(c not in "0123456789abcdef" for c in trace_id):
            raise UsageError(
                f"invalid trace id {trace_id!r}",
                hint="A trace id is its goal signature (hex) or a unique prefix of it.",
            )
        self.index.sync()
        found = self.index.by_prefix(trace_id)
        if not found:
            raise UsageError(f"no trace has the id {trace_id}", hint="See `llmos traces list`.")
        if len({entry.signature for entry in found}) > 1:
            ids = ", ".join(sorted({entry.signature for entry in found})[:5])
            raise UsageError(f"trace id {trace_id} is ambiguous: {ids}", hint="Give more digits.")
        return found[0]

    # Outcomes --------------------------------------------------------------------------------
    def record_outcome(self, entry: IndexedTrace, *, ok: bool) -> Trace:
        """Count one more use of a trace, successful or not, and re-rate it."""
        trace = self.load(entry)
        successes = trace.success_count + (1 if ok else 0)
        failures = trace.failure_count + (0 if ok else 1)
        updated = dataclasses.replace(
            trace,
            usage_count=trace.usage_count + 1,
            success_count=successes,
            failure_count=failures,
            success_rating=success_rating(successes, failures),
            last_used=now_iso(),
        )
        path = self.store.write(updated, self.path_of(entry))
        self.index.note_saved(path)
        return updated

    def remove(self, entry: IndexedTrace) -> None:
        self.path_of(entry).unlink(missing_ok=True)
        self.index.forget(entry.name)
