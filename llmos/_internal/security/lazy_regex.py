"""Regexes compiled on first use, not at import.

Importing the security policy is on the path of every `llmos run`, Follower replays included
(whose whole command has a budget of a quarter of a second), and the rule tables hold dozens
of large regexes of which one call needs only a few. A `LazyRegex` at module level costs
nothing until a rule first uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


class LazyRegex:
    """`re.compile(pattern, flags)`, done the first time one of its methods is called."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def match(self, text: str) -> re.Match[str] | None:
        return self.compiled.match(text)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text)

    def __repr__(self) -> str:
        return f"LazyRegex({self.pattern!r})"
