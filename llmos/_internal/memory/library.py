"""The trace library: the trace files, their index, and the questions llmos asks of them
(which trace means this goal? which trace is this id? how did replaying it go?).

A goal *matches* a trace only exactly: its canonical form is the trace's goal (`exact`), it
fits the trace's template with its own values (`template`), or it fits one of the trace's
aliases (`alias`). Anything else is at most *similar*: a worked example for the Learner, a
suggestion for the user, never replayed on its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Literal

from llmos._internal.errors import TraceFormatError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.memory.goal_form import goal_signature, goal_tokens
from llmos._internal.memory.matching import similarity
from llmos._internal.memory.template import (
    Alias,
    learn_slots,
    lookup_keys,
    procedure_key,
    slot_order,
)
from llmos._internal.memory.trace import Trace
from llmos._internal.memory.trace_index import IndexedTrace, TraceIndex, Unreadable
from llmos._internal.memory.trace_store import TraceStore
from llmos._internal.usage import Usage
from llmos._internal.workspace import Workspace

MatchKind = Literal["exact", "alias", "template", "similar"]
_KIND_RANK = {"exact": 0, "alias": 1, "template": 2, "similar": 3}


@frozen
class Match:
    """A trace found for a goal: how it fits, and the values replay would run it with."""

    entry: IndexedTrace
    kind: MatchKind
    confidence: float = 1.0  # 1.0 for the exact kinds; word overlap for a similar goal
    values: dict[str, str] = field(default_factory=dict)  # learned value -> this goal's
    alias: str | None = None  # the alias that matched

    @property
    def replayable(self) -> bool:
        return self.kind != "similar"

    def describe(self) -> str:
        if self.kind == "exact":
            return "the same goal"
        swaps = ", ".join(f"{old} -> {new}" for old, new in self.values.items())
        if self.kind == "alias":
            how = f"alias {self.alias!r}"
            return f"{how} with {swaps}" if swaps else how
        if self.kind == "template":
            return f"its template with {swaps}"
        return f"a similar goal (word overlap {self.confidence:.2f})"


@frozen
class Learned:
    """Where a learned run went: a new trace, a new version of its goal's trace, or an
    alias of a trace that already does the same."""

    path: Path
    kind: Literal["new", "relearned", "alias"]
    trace: Trace
    kept: Path | None = None  # the earlier version kept, or an unreadable file set aside

    def describe(self) -> str:
        if self.kind == "alias":
            return f"same steps as trace {self.trace.goal_signature}: saved as an alias of it"
        if self.kind == "relearned":
            return f"learned again; the earlier version is kept in {self.kept}"
        if self.kept is not None:
            return f"saved; the unreadable file that stood there is kept as {self.kept}"
        return "saved"


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
    def find(self, goal: str, *, project: str | None = None) -> list[Match]:
        """The traces `goal` matches exactly (canonical form, template or alias), best
        first: exact before alias before template, then the project's own, then rating."""
        tokens = goal_tokens(goal)
        if not tokens:
            return []
        keys = lookup_keys(tokens)
        self.index.sync()  # one stat of the folder, unless files came or went
        bindings = self.index.bindings(keys, tokens)
        # Each trace found is re-checked against its file before it is trusted: one edited
        # in place (the folder's mtime unchanged) is read again, and the lookup made anew.
        stale = {b.entry.name for b in bindings if not self.index.unchanged(b.entry.name, b.stamp)}
        if stale:
            for name in stale:
                self.index.refresh(name)
            bindings = self.index.bindings(keys, tokens)
        if not bindings:
            # A file whose goal was edited in place (the folder's mtime unchanged) is found
            # by its words: re-checked, it may now match.
            changed = [c for c in self.index.candidates(goal) if self.index.refresh(c.name) != c]
            if changed:
                bindings = self.index.bindings(keys, tokens)
        found: dict[str, Match] = {}
        for binding in bindings:
            learned = binding.entry.slot_values
            values = {
                learned[i]: value
                for i, value in binding.values.items()
                if i < len(learned) and value != learned[i]
            }
            kind: MatchKind = "exact"
            if binding.alias is not None:
                kind = "alias"
            elif values:
                kind = "template"
            match = Match(binding.entry, kind, 1.0, values, binding.alias)
            best = found.get(binding.entry.name)
            if best is None or _rank(match, project) < _rank(best, project):
                found[binding.entry.name] = match
        return sorted(found.values(), key=lambda m: _rank(m, project))

    def similar(self, goal: str, *, project: str | None = None, limit: int = 5) -> list[Match]:
        """Learned goals sharing words with `goal`, most alike first (never replayed on
        that alone)."""
        self.index.sync()
        found = []
        for candidate in self.index.candidates(goal):
            fresh = self.index.refresh(candidate.name)
            if fresh is not None:
                found.append(Match(fresh, "similar", similarity(goal, fresh.goal_text)))
        found.sort(key=lambda m: (-m.confidence, m.entry.project != project))
        return found[:limit]

    def listing(
        self, *, project: str | None = None, search: str | None = None, limit: int = 1000
    ) -> list[IndexedTrace]:
        """Traces, most recently used first, each re-checked against its file (one stat):
        a file edited in place is read again, an unreadable one left out (`problems`)."""
        self.index.sync()
        entries = self.index.listing(project=project, search=search, limit=limit)
        fresh = [self.index.refresh(entry.name) for entry in entries]
        return [entry for entry in fresh if entry is not None]

    def unreadable_for(self, goal: str) -> Unreadable | None:
        """The unreadable file where `goal`'s trace would be, if there is one."""
        name = f"{goal_signature(goal)}.md"
        self.index.refresh(name)
        return next((p for p in self.index.problems() if p.name == name), None)

    def problems(self) -> list[Unreadable]:
        self.index.sync()
        return self.index.problems()

    # Ids -------------------------------------------------------------------------------------
    def resolve(self, trace_id: str) -> IndexedTrace:
        """A trace by its id: its goal signature, or a unique prefix of it. An unreadable
        trace file with that id is reported with what is wrong with it."""
        found = self.resolve_any(trace_id)
        if isinstance(found, Unreadable):
            raise TraceFormatError(
                found.error,
                path=str(self.store.folder / found.name),
                hint=f"Fix the file by hand, or remove it: llmos traces rm {found.signature}",
            )
        return found

    def resolve_any(self, trace_id: str) -> IndexedTrace | Unreadable:
        """`resolve`, but an unreadable trace file is returned (to be removed), not raised."""
        trace_id = trace_id.strip().lower()
        if not trace_id or any(c not in "0123456789abcdef" for c in trace_id):
            raise UsageError(
                f"invalid trace id {trace_id!r}",
                hint="A trace id is its goal signature (hex) or a unique prefix of it.",
            )
        self.index.sync()
        found = self.index.by_prefix(trace_id)
        broken = self.index.problems_with_prefix(trace_id)
        ids = {entry.signature for entry in found} | {p.signature for p in broken}
        if len(ids) > 1:
            shown = ", ".join(sorted(ids)[:5])
            raise UsageError(f"trace id {trace_id} is ambiguous: {shown}", hint="Give more digits.")
        if found:
            return found[0]
        if broken:
            return broken[0]
        raise UsageError(f"no trace has the id {trace_id}", hint="See `llmos traces list`.")

    # Learning --------------------------------------------------------------------------------
    def learn(self, trace: Trace) -> Learned:
        """Save what a Learner run learned. Its values that its steps use become slots; if
        a trace already does the same steps, the goal becomes an alias of it; if the goal
        was learned before, the earlier version is kept."""
        trace = dataclasses.replace(trace, slots=learn_slots(trace.goal_text, trace.steps))
        key = procedure_key(trace.steps, trace.slots)
        plain = procedure_key(trace.steps, ())
        own = self.store.path_for(trace.goal_signature)
        with self.store.locked():
            self.index.sync()
            self.index.refresh(own.name)
            previous = self._readable(own)
            if previous is None and not own.exists():
                for entry in self.index.same_procedure(key, plain):
                    if entry.name != own.name:
                        return self._alias_of(entry, trace)
            learned = trace
            if previous is not None:
                learned = _successor(previous, trace, same=key == _key(previous))
            saved = self.store.replace(learned, own)
            self.index.note_saved(own)
        kind: Literal["new", "relearned"] = "relearned" if saved.previous else "new"
        return Learned(own, kind, learned, saved.kept)

    def add(self, trace: Trace) -> Path:
        """Save a trace as it is (an imported one): its slots and aliases as its file says."""
        with self.store.locked():
            saved = self.store.replace(trace)
            self.index.note_saved(saved.path)
        return saved.path

    def _readable(self, path: Path) -> Trace | None:
        try:
            return self.store.load_file(path)
        except (OSError, UnicodeDecodeError, TraceFormatError):
            return None

    def _alias_of(self, entry: IndexedTrace, run: Trace) -> Learned:
        """Record `run`'s goal as an alias of `entry`'s trace (which does the same steps),
        and count the run as one more success of it. Call with the lock held."""
        path = self.path_of(entry)
        target = self.store.load_file(path)
        values: list[str | None] = [None] * len(target.slots)
        if run.slots and target.slots:  # pair the slots by where the steps first use them
            for mine, theirs in zip(
                slot_order(run.steps, run.slots),
                slot_order(target.steps, target.slots),
                strict=False,
            ):
                values[theirs] = run.slots[mine].value
        alias = Alias(run.goal_text, tuple(values))
        aliases = target.aliases
        if goal_signature(alias.goal) not in {goal_signature(a.goal) for a in aliases}:
            aliases = (*aliases, alias)
        updated = _counted(dataclasses.replace(target, aliases=aliases), ok=True)
        self.store.write(updated, path)
        self.index.note_saved(path)
        return Learned(path, "alias", updated)

    def add_alias(self, entry: IndexedTrace, goal: str) -> Trace:
        """Make `goal` another wording of `entry`'s trace. Its values that are the trace's
        slot values become those slots."""
        with self.store.locked():
            trace = self.load(entry)
            if goal_signature(goal) in {goal_signature(a.goal) for a in trace.aliases} or (
                goal_signature(goal) == trace.goal_signature
            ):
                raise UsageError(f"{goal!r} already means trace {entry.signature}")
            named = {(t.kind, t.value) for t in goal_tokens(goal) if t.kind}
            values = tuple(s.value if (s.kind, s.value) in named else None for s in trace.slots)
            updated = dataclasses.replace(trace, aliases=(*trace.aliases, Alias(goal, values)))
            self.store.write(updated, self.path_of(entry))
            self.index.note_saved(self.path_of(entry))
        return updated

    def remove_alias(self, entry: IndexedTrace, goal: str) -> Trace:
        with self.store.locked():
            trace = self.load(entry)
            kept = tuple(a for a in trace.aliases if goal_signature(a.goal) != goal_signature(goal))
            if len(kept) == len(trace.aliases):
                raise UsageError(
                    f"trace {entry.signature} has no alias {goal!r}",
                    hint=f"See `llmos traces aliases {entry.signature}`.",
                )
            updated = dataclasses.replace(trace, aliases=kept)
            self.store.write(updated, self.path_of(entry))
            self.index.note_saved(self.path_of(entry))
        return updated

    # Outcomes --------------------------------------------------------------------------------
    def record_outcome(self, entry: IndexedTrace, *, ok: bool) -> None:
        """Count one more replay of a trace, successful or not, and re-rate it. Under the
        library's lock: concurrent replays each count."""
        path = self.path_of(entry)
        with self.store.locked():
            meta = self.store.count_use(path, ok=ok)
            self.index.note_counted(path, meta)

    def remove(self, entry: IndexedTrace | Unreadable) -> None:
        self.store.folder.joinpath(entry.name).unlink(missing_ok=True)
        self.index.forget(entry.name)

    def versions(self, entry: IndexedTrace) -> list[Path]:
        return self.store.versions(Path(entry.name).stem)


def _rank(match: Match, project: str | None) -> tuple[int, bool, float]:
    return (_KIND_RANK[match.kind], match.entry.project != project, -match.entry.success_rating)


def _key(trace: Trace) -> str:
    return procedure_key(trace.steps, trace.slots)


def _counted(trace: Trace, *, ok: bool) -> Trace:
    return dataclasses.replace(trace, **Usage.of(trace).counted(ok=ok).fields())


def _successor(previous: Trace, new: Trace, *, same: bool) -> Trace:
    """A goal learned again. With the same steps it is the same trace, one success more
    (its preconditions refreshed from the new run); with other steps it starts its own
    record, the earlier version kept beside it."""
    if not same:
        return new
    usage = Usage.of(previous).merged(Usage.of(new))
    return dataclasses.replace(
        new,
        **{**usage.fields(), "last_used": new.last_used},
        created_at=previous.created_at,
        aliases=previous.aliases,
    )
