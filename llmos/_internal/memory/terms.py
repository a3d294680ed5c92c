"""The words memory is searched by, and how relevant a memory is to a goal.

Text is normalised like a goal (case, punctuation and whitespace folded), stripped of
stopwords and lightly stemmed ("files" and "file", "counting" and "count" meet). The same
terms are what the memory index stores and searches, so Python and SQLite agree on them.

Relevance is the IDF-weighted share of the goal's terms that a memory contains: 1.0 when it
mentions every term of the goal, 0 when none; a rare shared word ("postgres") counts for
more than a common one ("file").
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

from llmos._internal.text import normalize_goal

# English function words, plus verbs and quantifiers that say what to do but not what about
# ("add", "make", "every"): they would weigh a goal down without telling memories apart.
STOPWORDS = frozenset(
    """a about above add after again all also am an and any are as at be been before being
    below between both but by can could did do does doing done each every few for from
    further get had has have having he her here hers him his how i if in into is it its
    itself just kindly make me more most my need new no nor now of off on once only or other
    our ours out over own please same set she should so some such than that the their theirs
    them then there these they this those through to too under until up us use used using
    very was we were what when where which while who whom why will with would you your
    yours""".split()
)
_KEEP_DOUBLE = frozenset("lsz")


def stem(word: str) -> str:
    """A light suffix stripper (plural, -ing, -ed, final e): crude, fast, consistent."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _KEEP_DOUBLE:
                word = word[:-1]  # running -> run
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]  # create, created, creating -> creat
    return word


def terms(text: str) -> list[str]:
    """The distinct search terms of `text`, in order of first appearance."""
    seen: dict[str, None] = {}
    for word in normalize_goal(text).split():
        if word not in STOPWORDS:
            seen.setdefault(stem(word), None)
    return list(seen)


def idf_weights(query: Iterable[str], doc_freq: Mapping[str, int], total: int) -> dict[str, float]:
    """Smoothed inverse document frequency of each query term (always >= 1)."""
    return {t: 1.0 + math.log((total + 1) / (doc_freq.get(t, 0) + 1)) for t in query}


def relevance(weights: Mapping[str, float], item_terms: Collection[str]) -> float:
    """The weighted share of the query's terms found in `item_terms`, from 0 to 1."""
    whole = sum(weights.values())
    if whole <= 0:
        return 0.0
    found = sum(weight for term, weight in weights.items() if term in item_terms)
    return round(found / whole, 4)
