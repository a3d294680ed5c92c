"""The globs of policy files, as regular expressions.

- **commands**: matched against a whole simple command, with runs of blanks folded to one
  space. ``*`` matches anything (spaces and slashes included), ``?`` one character,
  ``[...]`` a class: ``git push --force*``, ``npm publish*``.
- **tools**: matched against a tool name, the same way: ``mcp__github__*``.
- **paths**: ``~`` is the home folder, a relative pattern is relative to the working folder.
  ``*`` and ``?`` stay within one path component, ``**`` crosses them, and a pattern also
  matches everything under what it names (``~/notes`` covers ``~/notes/a/b.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from llmos._internal.security.lazy_regex import LazyRegex

_GLOB_CHARS = LazyRegex(r"[*?\[]")


def _translate(pattern: str, *, star: str, question: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*" and pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append(star)
        elif c == "?":
            out.append(question)
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                body = "^" + body[1:] if body[:1] == "!" else body
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def normalize_command(text: str) -> str:
    return " ".join(text.split())


def command_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a whole text (blanks folded) matches a `commands` or `tools` glob. A glob that
    is plain text, or plain text and a trailing ``*`` (every glob of the shipped policy), is
    matched without a regex: the first call a run checks would otherwise compile dozens."""
    text = normalize_command(pattern)
    prefix = text.rstrip("*")
    if _GLOB_CHARS.search(prefix):
        regex = command_regex(pattern)
        return lambda subject: regex.match(subject) is not None
    if prefix == text:
        return lambda subject: subject == text
    return lambda subject: subject.startswith(prefix)


class GlobList:
    """The `commands` or `tools` globs of one list, matched together: plain-text globs by one
    dictionary lookup (a long list of exact commands, such as the shipped shell set-up lines,
    then costs nothing per call), the others one by one."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.exact: dict[str, str] = {}
        self.others: list[tuple[str, Callable[[str], bool]]] = []
        for pattern in patterns:
            text = normalize_command(pattern)
            if _GLOB_CHARS.search(text) is None:
                self.exact.setdefault(text, pattern)
            else:
                self.others.append((pattern, command_matcher(pattern)))

    def first(self, subjects: list[str]) -> str | None:
        """The glob that matches one of `subjects` (normalized), if any."""
        for subject in subjects:
            found = self.exact.get(subject)
            if found is not None:
                return found
        for pattern, matches in self.others:
            if any(matches(s) for s in subjects):
                return pattern
        return None


def command_regex(pattern: str) -> re.Pattern[str]:
    """The regex of a `commands` or `tools` glob (the whole text must match)."""
    body = _translate(normalize_command(pattern), star=".*", question=".")
    return re.compile(f"(?s:{body})\\Z")


def path_pattern(patterns: Iterable[str], home: str, workdir: str) -> re.Pattern[str] | None:
    """One regex matching every path any of `patterns` names (or contains), or None."""
    bodies = [_path_body(p, home, workdir) for p in patterns if p.strip()]
    if not bodies:
        return None
    return re.compile("(?:" + "|".join(bodies) + r")(?:/.*)?\Z", re.S)


def _path_body(pattern: str, home: str, workdir: str) -> str:
    pattern = pattern.strip()
    if pattern == "~" or pattern.startswith("~/"):
        pattern = home + pattern[1:]
    elif not pattern.startswith("/"):
        pattern = os.path.join(workdir, pattern)
    glob = _GLOB_CHARS.search(pattern)
    fixed, rest = (pattern[: glob.start()], pattern[glob.start() :]) if glob else (pattern, "")
    head, _, partial = fixed.rpartition("/")  # resolve symlinks in the part without globs
    fixed = os.path.realpath(head or "/").rstrip("/") + "/" + partial
    pattern = os.path.normpath(fixed + rest) if not rest else fixed + rest
    return _translate(pattern.rstrip("/") or "/", star="[^/]*", question="[^/]")
