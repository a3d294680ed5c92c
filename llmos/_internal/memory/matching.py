"""How alike two goals are in their words: for choosing the worked example a Learner run is
shown, and the suggestions `--dry-run` and the REPL make.

Never used to decide a replay: a goal replays a trace only when its canonical form, a
template or an alias binds it exactly (llmos/_internal/memory/goal_form.py, template.py).
"""

from __future__ import annotations

from llmos._internal.text import normalize_goal

# Words too common to tell goals apart in a full-text search.
FILLER_WORDS = frozenset(
    "a an the please now again just kindly for me us this that then also".split()
)


def similarity(goal: str, other: str) -> float:
    """The overlap of the two goals' words (Jaccard, 0 to 1), fillers left out."""
    mine = set(normalize_goal(goal).split()) - FILLER_WORDS
    theirs = set(normalize_goal(other).split()) - FILLER_WORDS
    if not mine or not theirs:
        return 0.0
    return round(len(mine & theirs) / len(mine | theirs), 4)
