"""Tab completion at the prompt: slash commands, then each command's own arguments (trace
ids, project names, modes, subcommands), from the command table in `commands.py`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)

# (value, description) pairs for the word being typed, given the words before it.
Candidates = Iterable[tuple[str, str]]
ArgumentCompleter = Callable[[Sequence[str], str], Candidates]
_MAX_TRACES = 50


class Completable(Protocol):
    @property
    def summary(self) -> str: ...

    @property
    def complete(self) -> ArgumentCompleter | None: ...


class SlashCompleter(Completer):
    def __init__(self, commands: Mapping[str, Completable]) -> None:
        self.commands = commands

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return  # a goal: nothing to complete
        if " " not in text:
            for name, command in self.commands.items():
                if f"/{name}".startswith(text):
                    yield Completion(f"/{name}", -len(text), display_meta=command.summary)
            return
        head, _, rest = text.partition(" ")
        found = self.commands.get(head[1:])
        if found is None or found.complete is None:
            return
        word = document.get_word_before_cursor(WORD=True)
        before = rest[: len(rest) - len(word)].split()
        try:
            candidates = list(found.complete(before, word))
        except Exception:  # a completion source failing must never break the prompt
            log.debug("completion failed for %s", head, exc_info=True)
            return
        for value, meta in candidates:
            if value.startswith(word):
                yield Completion(value, -len(word), display_meta=meta)


# Sources ---------------------------------------------------------------------------------------
def trace_ids(ws: Workspace, prefix: str) -> Candidates:
    """Trace ids starting with `prefix` (the most recently used first when it is empty)."""
    from llmos._internal.memory.library import TraceLibrary

    with TraceLibrary(ws) as library:
        if prefix:
            entries = library.index.by_prefix(prefix)[:_MAX_TRACES]
        else:
            entries = library.index.listing(limit=_MAX_TRACES)
    return [(entry.signature, entry.goal_text[:60]) for entry in entries]


def project_names(ws: Workspace, current: str) -> Candidates:
    return [(name, "current" if name == current else "") for name in ws.project_names()]


def words(values: Iterable[str], meta: str = "") -> Candidates:
    return [(value, meta) for value in values]
