"""Step selectors: the words of policy.yaml that say which steps a rule is about.

    selector := what [passed | failed]
    what     := a type      read, search, write, execute, verify, network, delegate, plan, respond
              | a trait     credential-read, edit
              | any         every step
              | a tool      Edit, Write, Bash, WebFetch, mcp__llmos_csv__to_markdown (a name that
                            starts with a capital letter, or mcp__; * matches any text)
              | a command   git push, `make deploy` (words the command starts with; backticks
                            for a one-word command, * matches any word)

`passed` / `failed` limit a selector to steps that worked or failed (a command's exit code).
An unknown single word close to a keyword is refused ("netwrk": did you mean network?),
so a typo never silently becomes a command.
"""

from __future__ import annotations

import difflib
import fnmatch

from llmos._internal.frozen import frozen
from llmos._internal.governance.history import Call, Step
from llmos._internal.governance.kinds import STEP_TYPES, TRAITS
from llmos._internal.security.lazy_regex import LazyRegex

KEYWORDS = (*STEP_TYPES, *TRAITS, "any")
_TOOL = LazyRegex(r"^(mcp__[\w*-]+|[A-Z][A-Za-z0-9*]*)$")
_OUTCOMES = {"passed": True, "failed": False}


class VocabularyError(ValueError):
    """A policy entry llmos cannot read; the message says what is wrong with it."""


@frozen
class Selector:
    """One selector, parsed: which steps (and calls) a policy rule is about."""

    text: str  # as written
    kind: str | None = None  # a type, a trait or "any"
    tool: str | None = None
    command: tuple[str, ...] | None = None
    outcome: bool | None = None  # True: passed, False: failed, None: either

    def __str__(self) -> str:
        return self.text

    @property
    def reads(self) -> bool:
        """It selects reading a file (`read`, Read, NotebookRead)."""
        return self.kind == "read" or self.tool in ("Read", "NotebookRead")

    @property
    def touches_files(self) -> bool:
        """It selects file tools' calls (`edit`, `write`, Edit, Write...)."""
        return self.kind in ("edit", "write") or self.tool in (
            "Edit",
            "Write",
            "MultiEdit",
            "NotebookEdit",
        )

    def matches_call(self, call: Call | Step) -> bool:
        """Whether a call is of this selector, its outcome aside."""
        if self.kind is not None:
            return self.kind == "any" or call.has(self.kind)
        if self.tool is not None:
            return fnmatch.fnmatchcase(call.tool, self.tool)
        if self.command is not None:
            return any(_starts_with(words, self.command) for words in call.kind.commands)
        return False

    def matches(self, step: Step) -> bool:
        return self.matches_call(step) and (self.outcome is None or step.ok == self.outcome)


def _starts_with(words: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    if len(words) < len(prefix):
        return False
    return all(fnmatch.fnmatchcase(w, p) for w, p in zip(words, prefix, strict=False))


def parse_selector(text: str) -> Selector:
    raw = " ".join(str(text).split())
    if not raw:
        raise VocabularyError("a step selector is missing")
    body, outcome = raw, None
    last = raw.rsplit(" ", 1)
    if len(last) == 2 and last[1].lower() in _OUTCOMES:
        body, outcome = last[0], _OUTCOMES[last[1].lower()]
    elif raw.lower() in _OUTCOMES:
        raise VocabularyError(f"{raw!r} needs a step before it (e.g. 'verify {raw.lower()}')")
    if body.startswith("`") and body.endswith("`") and len(body) > 2:
        words = tuple(body[1:-1].split())
        if not words:
            raise VocabularyError("an empty command between backticks")
        return Selector(raw, command=words, outcome=outcome)
    if body in KEYWORDS:  # lower case: a type or trait; capitalised: a tool (Edit, Read)
        return Selector(raw, kind=body, outcome=outcome)
    if " " not in body and _TOOL.match(body):
        return Selector(raw, tool=body, outcome=outcome)
    lowered = body.lower()
    if "`" in body:
        raise VocabularyError(f"{body!r}: put the whole command between backticks")
    words = tuple(body.split())
    if len(words) == 1:
        close = difflib.get_close_matches(lowered, KEYWORDS, n=1, cutoff=0.75)
        if close:
            raise VocabularyError(
                f"unknown step kind {body!r} (did you mean {close[0]}?); to name a command, "
                f"write it between backticks: `{body}`"
            )
    return Selector(raw, command=words, outcome=outcome)
