"""Recall: the memory a Learner run starts with, under a token budget.

Before the model sees the goal (the UserPromptSubmit hook), llmos gathers what it knows that
bears on it: facts and insights of the workspace and of the run's project (never another
project's), and learned traces of similar goals. Each is scored by its relevance to the goal
(`memory/terms.py`; items below `min_relevance` are left out however much room is left),
facts slightly ahead of insights and insights of traces on a tie. Then, most relevant first,
items go in while the budget allows; a too-long item is skipped for a shorter, less
relevant one. Each item names its source. Tokens are counted with the model API's
`count_tokens` when the run can reach it, else conservatively (`memory/tokens.py`), and the
assembled text is counted once more as a whole: it is never over the budget.

Left out: the trace already given to the run as a worked example, insights about that same
trace, a trace whose insight is offered (it lists the same steps, with what they cost), a
trace from elsewhere no human has approved (llmos/_internal/security/trust.py), and
insights already distilled into facts.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from llmos._internal.errors import LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.library import Match, TraceLibrary
from llmos._internal.memory.terms import relevance, terms
from llmos._internal.memory.tokens import (
    ConservativeCounter,
    TokenCounter,
    TokenCountUnavailable,
)
from llmos._internal.memory.trace import Trace
from llmos._internal.text import one_line
from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)

HEADER = "Relevant memory from earlier llmos runs (use it if it helps):"
MIN_RELEVANCE = 0.25
MAX_ITEMS = 12  # candidates counted at most: each is one count_tokens request
_ITEM_CHARS = 1200
_KIND_WEIGHT = {"fact": 1.0, "insight": 0.95, "trace": 0.9}
_OWN_PROJECT_BONUS = 0.02


@frozen
class Candidate:
    """A piece of memory that bears on the goal, scored, before the budget is applied."""

    kind: str  # fact | insight | trace
    source: str  # the file it came from
    score: float
    text: str  # the line given to the model


@frozen
class RecalledItem:
    """One item recall gave the run, as the run's MemoryInjected event records it."""

    kind: str
    source: str
    score: float
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "score": self.score,
            "tokens": self.tokens,
        }


@frozen
class Recollection:
    """What recall gives a run: the text the model sees first, and what went into it."""

    text: str
    items: tuple[RecalledItem, ...] = ()
    tokens: int = 0
    budget: int = 0
    counter: str = ""
    considered: int = 0  # relevant candidates, injected or not
    skipped: tuple[str, ...] = field(default=())  # relevant but over the budget

    @property
    def sources(self) -> list[str]:
        return [item.source for item in self.items]


def recall(
    goal: str,
    *,
    library: TraceLibrary,
    memory: MemoryStore,
    token_cap: int,
    project: str = "default",
    exclude: frozenset[str] = frozenset(),
    counter: TokenCounter | None = None,
    min_relevance: float = MIN_RELEVANCE,
) -> Recollection:
    """Relevant memory for `goal`, most relevant first, never over `token_cap` tokens.

    `exclude` names trace signatures the run already has in full (a worked example)."""
    candidates = gather(
        goal,
        library=library,
        memory=memory,
        project=project,
        exclude=exclude,
        min_relevance=min_relevance,
    )
    if not candidates or token_cap <= 0:
        return Recollection("", budget=max(token_cap, 0), considered=len(candidates))
    counter = counter or ConservativeCounter()
    try:
        return fit(candidates, token_cap, counter)
    except TokenCountUnavailable as exc:
        log.warning("count_tokens unavailable, counting conservatively: %s", exc)
        return fit(candidates, token_cap, ConservativeCounter(f"count_tokens failed: {exc}"))


def gather(
    goal: str,
    *,
    library: TraceLibrary,
    memory: MemoryStore,
    project: str,
    exclude: frozenset[str],
    min_relevance: float = MIN_RELEVANCE,
) -> list[Candidate]:
    """Everything relevant enough to `goal`, best first, at most `MAX_ITEMS`."""
    wanted = terms(goal)
    if not wanted:
        return []
    memory.sync()
    weights = memory.weights(wanted)
    found: list[Candidate] = []
    entries = memory.index.search(wanted, projects=[None, project], include_distilled=False)
    for entry in entries:
        if entry.kind == "insight" and entry.trace in exclude:
            continue  # the worked example already shows that run in full
        score = relevance(weights, entry.terms)
        if score < min_relevance:
            continue
        label = entry.path.relative_to(memory.ws.root).as_posix()
        tags = f", tags: {', '.join(entry.tags)}" if entry.tags else ""
        what = "Fact" if entry.kind == "fact" else "Insight from an earlier run"
        text = f"- {what} ({entry.scope}, {label}{tags}): {one_line(entry.text, _ITEM_CHARS)}"
        bonus = _OWN_PROJECT_BONUS if entry.project is not None else 0.0
        found.append(Candidate(entry.kind, str(entry.path), _rank(entry.kind, score, bonus), text))
    noted = {entry.trace for entry in entries if entry.kind == "insight"}
    alike: dict[str, Match] = {}  # each trace once: its exact match, else its similarity
    for one in [*library.find(goal, project=project), *library.similar(goal, project=project)]:
        alike.setdefault(one.entry.name, one)
    for match in list(alike.values())[:8]:
        learned = match.entry
        if learned.signature in exclude or learned.signature in noted:
            continue  # shown in full already, or its insight says the same and more
        score = relevance(weights, set(terms(learned.goal_text)))
        if score < min_relevance:
            continue
        try:
            trace = library.load(learned)
        except LlmosError:
            continue
        if not _trusted(memory.ws, trace):
            continue  # from elsewhere and not approved: its text is not shown to the model
        steps = "; ".join(step.summary for step in trace.steps[:6])
        text = one_line(
            f"- Similar goal done before (trace {learned.signature}, success rating "
            f"{learned.success_rating:.2f}, used {learned.usage_count}x, project "
            f"{learned.project}): {trace.goal_text!r}. Steps: {steps}.",
            _ITEM_CHARS,
        )
        bonus = _OWN_PROJECT_BONUS if learned.project == project else 0.0
        path = str(library.path_of(learned))
        found.append(Candidate("trace", path, _rank("trace", score, bonus), text))
    found.sort(key=lambda c: c.score, reverse=True)
    return found[:MAX_ITEMS]


def _trusted(ws: Workspace, trace: Trace) -> bool:
    from llmos._internal.security.trust import TrustStore  # llmos/_internal/security/trust.py

    with TrustStore.of(ws) as store:
        return store.check(trace).trusted


def _rank(kind: str, score: float, bonus: float) -> float:
    return round(score * _KIND_WEIGHT[kind] + bonus, 4)


def fit(candidates: list[Candidate], budget: int, counter: TokenCounter) -> Recollection:
    """The best candidates whose text, with the header, counts at most `budget` tokens."""
    counts = counter.count([HEADER, *(c.text for c in candidates)])
    used, separator = counts[0], 1  # a newline joins the lines (never counted alone: the
    # API refuses a text of only whitespace); the count of the whole below is what decides
    chosen: list[tuple[Candidate, int]] = []
    skipped: list[str] = []
    for candidate, tokens in zip(candidates, counts[1:], strict=True):
        if used + separator + tokens <= budget:
            chosen.append((candidate, tokens))
            used += separator + tokens
        else:
            skipped.append(candidate.source)
    # The pieces were counted one by one; the whole is what must fit. Should joining them
    # have cost more, the least relevant go first.
    while chosen:
        text = "\n".join([HEADER, *(c.text for c, _ in chosen)])
        (total,) = counter.count([text])
        if total <= budget:
            items = tuple(RecalledItem(c.kind, c.source, c.score, t) for c, t in chosen)
            return Recollection(
                text, items, total, budget, counter.name, len(candidates), tuple(skipped)
            )
        skipped.append(chosen.pop()[0].source)
    return Recollection("", (), 0, budget, counter.name, len(candidates), tuple(skipped))


def recall_for_run(
    ws: Workspace,
    library: TraceLibrary,
    goal: str,
    *,
    project: str,
    model: str | None,
    env: Mapping[str, str],
    exclude: frozenset[str] = frozenset(),
) -> Recollection:
    """Recall for a Learner run: its project's and the workspace's memory, real token counts.

    Memory is a help, not a precondition: if it cannot be read (a damaged index, a disk
    error), the run starts without it and the event says why."""
    budget = ws.settings.memory_context_tokens
    try:
        with MemoryStore(ws) as memory:
            # the count_tokens client, if usable
            from llmos._internal.sdk.token_count import counter_for

            return recall(
                goal,
                library=library,
                memory=memory,
                token_cap=budget,
                project=project,
                exclude=exclude,
                counter=counter_for(env, model),
                min_relevance=ws.settings.memory_min_relevance,
            )
    except (OSError, sqlite3.Error, LlmosError) as exc:
        log.warning("recall failed, the run starts without memory: %s", exc)
        return Recollection("", budget=budget, counter=f"recall failed: {exc}")
