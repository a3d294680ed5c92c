"""Recall: the memory a Learner run starts with, under a token cap.

For now this picks the learned goals most like the new one (through the trace index, so
no file is parsed but the few that are used) and the workspace's facts that mention the
goal's words, most relevant first, and stops before the cap. Tokens are estimated at four
characters each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.errors import LlmosError
from llmos.memory.library import TraceLibrary
from llmos.memory.trace import normalize_goal

CHARS_PER_TOKEN = 4
_STOPWORDS = frozenset("a an and the to of in on for with into from by it is be this that".split())


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _words(text: str) -> set[str]:
    return {w for w in normalize_goal(text).split() if w not in _STOPWORDS}


@dataclass(frozen=True)
class Recollection:
    text: str
    sources: list[str]
    tokens: int


def recall(
    goal: str,
    *,
    library: TraceLibrary,
    facts_dir: Path,
    token_cap: int,
    exclude: frozenset[str] = frozenset(),
) -> Recollection:
    """Relevant memory for `goal`, most relevant first, never over `token_cap` tokens.

    `exclude` names trace signatures the run already has in full (a worked example)."""
    wanted = _words(goal)
    if not wanted or token_cap <= 0:
        return Recollection("", [], 0)
    candidates: list[tuple[float, str, str]] = []
    for match in library.matches(goal):
        if match.entry.signature in exclude or match.confidence <= 0:
            continue
        try:
            trace = library.load(match.entry)
        except LlmosError:
            continue
        steps = "; ".join(step.summary for step in trace.steps[:6])
        note = f"- A similar goal was done before: {trace.goal_text!r}. Steps: {steps}."
        candidates.append((match.confidence, note, str(library.path_of(match.entry))))
    for path in sorted(facts_dir.glob("*.md")):
        body = path.read_text(encoding="utf-8", errors="replace").strip()
        overlap = wanted & _words(body)
        if overlap:
            candidates.append((len(overlap) / len(wanted), f"- Fact: {body}", str(path)))
    candidates.sort(key=lambda item: item[0], reverse=True)

    header = "Relevant memory from earlier llmos runs (use it if it helps):"
    lines, sources, used = [header], [], estimate_tokens(header)
    for _, note, source in candidates:
        cost = estimate_tokens(note) + 1
        if used + cost > token_cap:
            continue
        lines.append(note)
        sources.append(source)
        used += cost
    if not sources:
        return Recollection("", [], 0)
    return Recollection("\n".join(lines), sources, used)
