"""Recall: the memory a Learner run starts with, under a token cap.

For now this picks the past traces whose goals share the most words with the new goal,
and the workspace's facts that mention those words, most relevant first, and stops
before the cap. Tokens are estimated at four characters each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.memory.trace import normalize_goal
from llmos.memory.trace_store import TraceStore

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


def recall(goal: str, *, traces: TraceStore, facts_dir: Path, token_cap: int) -> Recollection:
    wanted = _words(goal)
    if not wanted or token_cap <= 0:
        return Recollection("", [], 0)
    candidates: list[tuple[float, str, str]] = []
    for path, trace in traces.iter_traces():
        overlap = wanted & _words(trace.goal_text)
        if overlap:
            score = len(overlap) / len(wanted | _words(trace.goal_text))
            steps = "; ".join(step.summary for step in trace.steps[:6])
            note = f"- A similar goal was done before: {trace.goal_text!r}. Steps: {steps}."
            candidates.append((score, note, str(path)))
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
