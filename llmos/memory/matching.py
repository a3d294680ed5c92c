"""How sure llmos is that a learned goal is the goal it was just given.

Confidence 1.0 is an exact match of the normalised goal (case, whitespace and punctuation
folded). Otherwise the goals' words are compared: if they differ only in filler words
("please", "the", "now"...), the goals mean the same and confidence is 0.95 or more; if any
meaningful word differs ("delete" vs "create", "10" vs "100", an added "not"), confidence is
at most 0.85, whatever else the goals share. So with the default threshold of 0.9, only
goals that mean the same are ever replayed without the model; the others are reported as
similar and handed to the Learner as a worked example.
"""

from __future__ import annotations

from llmos.memory.trace import normalize_goal

# Words whose presence or absence does not change what a goal asks for.
FILLER_WORDS = frozenset(
    "a an the please now again just kindly for me us this that then also".split()
)
_DIFFERENT_MEANING_CAP = 0.85


def words(goal: str) -> list[str]:
    return normalize_goal(goal).split()


def confidence(goal: str, learned_goal: str) -> float:
    a, b = normalize_goal(goal), normalize_goal(learned_goal)
    if a == b:
        return 1.0
    set_a, set_b = set(a.split()), set(b.split())
    if not set_a or not set_b:
        return 0.0
    jaccard = len(set_a & set_b) / len(set_a | set_b)
    content_a, content_b = set_a - FILLER_WORDS, set_b - FILLER_WORDS
    if content_a and content_a == content_b:
        return round(0.95 + 0.05 * jaccard, 4)
    return round(min(_DIFFERENT_MEANING_CAP, jaccard), 4)
