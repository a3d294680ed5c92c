"""Does a goal list several separate tasks? The cheap test auto mode uses to plan.

The rule looks at structure, never at words: a goal is "several tasks" when the user wrote
them as a list of at least two items, either one item per line (bullets `-`, `*`, `•`,
or numbers `1.`, `2)`, `(3)`) or inline with consecutive numbers (`1) … 2) …`,
`(1) … (2) …`, `1. … 2. …`). Prose, however long and however many "and"s it has, is one
task: Learner mode takes it, with the agents offered as subagents, so the model can still
delegate when it judges that worth it. `--mode orchestrator` plans any goal.
"""

from __future__ import annotations

import re

from llmos._internal.frozen import frozen

_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+\S")
# An inline number: at the start or after a space/colon/semicolon, then "1)", "(1)" or "1.",
# then a space and a letter. "version 1.2", "#1" and "1.5 s" do not qualify.
_INLINE_NUMBER = re.compile(r"(?:^|[\s:;,])\(?(\d{1,2})[.)]\s+(?=[^\W\d_])")


@frozen
class Classification:
    """Whether a goal lists several separate tasks, and why it was judged so."""

    several: bool
    items: int
    reason: str


def classify_goal(goal: str) -> Classification:
    lines = [line for line in goal.splitlines() if line.strip()]
    listed = sum(1 for line in lines if _BULLET_LINE.match(line))
    if listed >= 2:
        return Classification(True, listed, f"the goal lists {listed} tasks, one per line")
    numbers = [int(m.group(1)) for m in _INLINE_NUMBER.finditer(goal)]
    run = _consecutive_from_one(numbers)
    if run >= 2:
        return Classification(True, run, f"the goal numbers {run} tasks (1, 2, ...)")
    return Classification(False, 1, "the goal is one task (no list of separate tasks)")


def _consecutive_from_one(numbers: list[int]) -> int:
    """The length of the longest run 1, 2, 3... in order (other numbers may sit between)."""
    expected = 1
    for number in numbers:
        if number == expected:
            expected += 1
    return expected - 1
