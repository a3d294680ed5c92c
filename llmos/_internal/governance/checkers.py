"""Policy checkers: rules over a run's history, asked before each tool call and before the run
may finish. A failed checker denies the call (the model is told why) or sends the run back
to work (the Stop hook), with its reason.

Declarative checkers, one per entry of `governance.checkers` in policy.yaml:

    require: A after B     before finishing: a run that did B did A after its last B
    require: A before B    before each B call: an A came first (per file when A reads and B
                           is a file tool: `require: read before edit`)
    require: A             before finishing: the run did A at least once
    forbid: A              no A call
    forbid: A after B      no A call once a B happened (or in the same step)
    forbid: A before B     no A call until a B happened
    max: {A: N, ...}       at most N A steps (a selector with passed/failed counts only those)
    stop after N failures of the same command
                           a command line that failed N times is not run again

A and B are selectors (`selectors.py`). Plugins add Python checkers (`@plugin.checker`).
Each checker is a spec (parsed once per policy) whose `running()` gives the per-run state;
`observe` keeps that state in step with the history in O(1), so checking a call costs a few
microseconds whatever the run's length.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from llmos._internal.frozen import frozen
from llmos._internal.governance.history import Call, History, Step
from llmos._internal.governance.kinds import command_key
from llmos._internal.governance.selectors import Selector, VocabularyError, parse_selector
from llmos._internal.security.lazy_regex import LazyRegex

log = logging.getLogger(__name__)

Phase = Literal["call", "finish"]
_STOP_AFTER = LazyRegex(
    r"^(?:stop\s+)?after\s+(\d+)\s+failures?\s+of\s+the\s+same\s+command$", re.IGNORECASE
)
_SPLIT = LazyRegex(r"^(.+?)\s+(after|before)\s+(.+)$")


class Running(Protocol):
    """One checker's state during one run."""

    def observe(self, history: History, step: Step) -> None: ...
    def check_call(self, history: History, call: Call) -> str | None: ...
    def check_finish(self, history: History) -> str | None: ...


class Checker(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def phases(self) -> frozenset[str]: ...  # "call", "finish"

    def running(self) -> Running: ...


class _Base:
    """Checkers that keep no state of their own: running() is the checker itself."""

    def running(self) -> Running:
        return self

    def observe(self, history: History, step: Step) -> None:
        return None

    def check_call(self, history: History, call: Call) -> str | None:
        return None

    def check_finish(self, history: History) -> str | None:
        return None


def describe(selector: Selector) -> str:
    """A selector in words, for reasons the model and the user read."""
    if selector.kind == "verify":
        what = "a verify step (tests, linters or type checkers)"
    elif selector.kind == "any":
        what = "a step"
    elif selector.kind == "credential-read":
        what = "a read of credentials"
    elif selector.kind == "edit":
        what = "an edit of a file"
    elif selector.kind is not None:
        what = f"a {selector.kind} step"
    elif selector.tool is not None:
        what = f"a {selector.tool} call"
    else:
        what = f"`{' '.join(selector.command or ())}`"
    if selector.outcome is True:
        what += " that passed"
    elif selector.outcome is False:
        what += " that failed"
    return what


# require ---------------------------------------------------------------------------------------
@frozen
class RequireAfter:
    """Before finishing: if B happened, A happened after the last B."""

    a: Selector
    b: Selector
    name: str
    phases: frozenset[str] = frozenset({"finish"})

    def running(self) -> Running:
        return _RequireAfterState(self)


@dataclass
class _RequireAfterState(_Base):
    """A `require: A after B` during a run: whether an A followed the last B."""

    spec: RequireAfter
    last_b: Step | None = None
    satisfied: bool = True

    def observe(self, history: History, step: Step) -> None:
        if self.spec.b.matches(step):
            self.last_b = step
            self.satisfied = self.spec.a.matches(step)  # `black . && pytest`: both at once
        elif self.spec.a.matches(step):
            self.satisfied = True

    def check_finish(self, history: History) -> str | None:
        if self.last_b is None or self.satisfied:
            return None
        a, b = describe(self.spec.a), describe(self.spec.b)
        return f"{b} (last: {self.last_b.describe()}) has no {a.removeprefix('a ')} after it"


@frozen
class RequireBefore:
    """Before each B call: an A happened before it; per file when A reads and B touches
    files (a file the run wrote itself counts as read, and a new file needs no read)."""

    a: Selector
    b: Selector
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def running(self) -> Running:
        return _RequireBeforeState(self)


@dataclass
class _RequireBeforeState(_Base):
    """A `require: A before B` during a run: whether an A has happened yet."""

    spec: RequireBefore
    seen_a: bool = False

    @property
    def per_file(self) -> bool:
        return self.spec.a.reads and self.spec.b.touches_files

    def observe(self, history: History, step: Step) -> None:
        if self.spec.a.matches(step):
            self.seen_a = True

    def check_call(self, history: History, call: Call) -> str | None:
        if not self.spec.b.matches_call(call):
            return None
        if self.per_file:
            unknown = _unknown_files(history, call)
            if not unknown:
                return None  # a new file, or files the run knows
            what = call.tool if call.tool != "Bash" else f"`{call.command.strip()[:60]}`"
            return f"{what} of {', '.join(unknown)}, which this run has not read. Read it first."
        if self.seen_a:
            return None
        return f"{describe(self.spec.b)} needs {describe(self.spec.a)} before it. Do that first."


def _unknown_files(history: History, call: Call) -> list[str]:
    """The existing files a call changes that the run has neither read nor written: a file
    tool's target, or the files a command names (`sed -i ... notes.txt`)."""
    target = call.input.get("file_path") or call.input.get("notebook_path")
    if isinstance(target, str):
        return [] if call.new_file or history.knows(target) else [target]
    if call.tool != "Bash":
        return []
    # os.path.isfile: a command's word may be any text, and Path.is_file() raises on some
    # (a name too long for the file system) where os.path.isfile says False.
    paths = call.kind.paths
    return [p for p in paths if os.path.isfile(history.path(p)) and not history.knows(p)]  # noqa: PTH113


@frozen
class RequireEver(_Base):
    """Before finishing: the run did A at least once."""

    a: Selector
    name: str
    phases: frozenset[str] = frozenset({"finish"})

    def running(self) -> Running:
        return _RequireEverState(self)


@dataclass
class _RequireEverState(_Base):
    """A `require: A` during a run: whether an A has happened yet."""

    spec: RequireEver
    seen: bool = False

    def observe(self, history: History, step: Step) -> None:
        self.seen = self.seen or self.spec.a.matches(step)

    def check_finish(self, history: History) -> str | None:
        return None if self.seen else f"there is no {describe(self.spec.a).removeprefix('a ')}"


# forbid ----------------------------------------------------------------------------------------
@frozen
class Forbid(_Base):
    """No A call, at any point of the run."""

    a: Selector
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def check_call(self, history: History, call: Call) -> str | None:
        if self.a.matches_call(call):
            return f"{describe(self.a)} is not allowed in this run."
        return None


@frozen
class ForbidAfter:
    """No A call once B happened (a step that is both counts too)."""

    a: Selector
    b: Selector
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def running(self) -> Running:
        return _ForbidAfterState(self)


@dataclass
class _ForbidAfterState(_Base):
    """A `forbid: A after B` during a run: the first B, once it happened."""

    spec: ForbidAfter
    first_b: Step | None = None

    def observe(self, history: History, step: Step) -> None:
        if self.first_b is None and self.spec.b.matches(step):
            self.first_b = step

    def check_call(self, history: History, call: Call) -> str | None:
        if not self.spec.a.matches_call(call):
            return None
        a, b = describe(self.spec.a), describe(self.spec.b)
        if self.first_b is not None:
            return f"{a} is not allowed after {b} ({self.first_b.describe()})."
        if self.spec.b.outcome is None and self.spec.b.matches_call(call):
            return f"{a} is not allowed after {b}, and this call is both."
        return None


@frozen
class ForbidBefore:
    """No A call until B happened."""

    a: Selector
    b: Selector
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def running(self) -> Running:
        return _ForbidBeforeState(self)


@dataclass
class _ForbidBeforeState(_Base):
    """A `forbid: A before B` during a run: whether a B has happened yet."""

    spec: ForbidBefore
    seen_b: bool = False

    def observe(self, history: History, step: Step) -> None:
        self.seen_b = self.seen_b or self.spec.b.matches(step)

    def check_call(self, history: History, call: Call) -> str | None:
        if self.seen_b or not self.spec.a.matches_call(call):
            return None
        a, b = describe(self.spec.a), describe(self.spec.b)
        return f"{a} is not allowed before {b}. Do that first."


# max -------------------------------------------------------------------------------------------
@frozen
class Max:
    """No A call once the run had `limit` A steps."""

    a: Selector
    limit: int
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def running(self) -> Running:
        return _MaxState(self)


@dataclass
class _MaxState(_Base):
    """A `max` during a run: the A steps counted so far."""

    spec: Max
    count: int = 0

    def observe(self, history: History, step: Step) -> None:
        self.count += self.spec.a.matches(step)

    def check_call(self, history: History, call: Call) -> str | None:
        if self.count < self.spec.limit or not self.spec.a.matches_call(call):
            return None
        return (
            f"this run already had {self.count} {describe(self.spec.a).removeprefix('a ')}"
            f"(s), the most the policy allows ({self.spec.limit}). Finish with what you have."
        )


# stop after N failures -------------------------------------------------------------------------
@frozen
class StopAfterFailures(_Base):
    """No command that already failed `limit` times in this run."""

    limit: int
    name: str
    phases: frozenset[str] = frozenset({"call"})

    def check_call(self, history: History, call: Call) -> str | None:
        if not call.command:
            return None
        failed = history.failed_commands.get(command_key(call.command), 0)
        if failed < self.limit:
            return None
        return (
            f"this command already failed {failed} times in this run. Do not run it again: "
            "change the approach or explain the problem in your answer."
        )


# plugins ---------------------------------------------------------------------------------------
CheckerFunction = Callable[[History, Call | None], Any]


@frozen
class PluginChecker(_Base):
    """A plugin's Python checker: `function(history, call)` (call is None before finishing)
    returns None or True to pass, a string saying why not (or False) to fail. One that raises
    fails, with the error as its reason: a checker is a guard and fails closed."""

    name: str
    function: CheckerFunction = field(compare=False)
    phases: frozenset[str] = frozenset({"call", "finish"})

    def check_call(self, history: History, call: Call) -> str | None:
        return self._ask(history, call) if "call" in self.phases else None

    def check_finish(self, history: History) -> str | None:
        return self._ask(history, None) if "finish" in self.phases else None

    def _ask(self, history: History, call: Call | None) -> str | None:
        try:
            verdict = self.function(history, call)
        except Exception as exc:
            log.warning("governance checker %s raised %s", self.name, exc)
            return f"the checker failed ({type(exc).__name__}: {exc})"
        if verdict is None or verdict is True:
            return None
        if verdict is False:
            return "the checker says no"
        return str(verdict)


# parsing ---------------------------------------------------------------------------------------
def parse_checker(entry: Any) -> list[Checker]:
    """The checkers of one `governance.checkers` entry (VocabularyError if it is wrong)."""
    if isinstance(entry, str):
        match = _STOP_AFTER.match(" ".join(entry.split()))
        if match:
            return [_stop_after(int(match.group(1)), entry)]
        raise VocabularyError(
            "a checker is `require: ...`, `forbid: ...`, `max: {...}` or "
            "`stop after N failures of the same command`"
        )
    if not isinstance(entry, dict) or len(entry) != 1:
        raise VocabularyError("a checker is a mapping with one key: require, forbid, max or stop")
    ((key, value),) = entry.items()
    if key == "max":
        return _max(value)
    if not isinstance(value, str) or not value.strip():
        raise VocabularyError(f"{key}: expected a sentence such as '{key} verify after write'")
    text = " ".join(value.split())
    if key == "stop":
        match = _STOP_AFTER.match(text)
        if not match:
            raise VocabularyError("stop: expected 'after N failures of the same command'")
        return [_stop_after(int(match.group(1)), f"stop {text}")]
    if key not in ("require", "forbid"):
        raise VocabularyError(f"unknown checker {key!r}; known: require, forbid, max, stop")
    name = f"{key} {text}"
    split = _SPLIT.match(text)
    if split is None:
        a = parse_selector(text)
        if key == "forbid":
            _no_outcome(a, name)
            return [Forbid(a, name)]
        return [RequireEver(a, name)]
    a, relation, b = parse_selector(split.group(1)), split.group(2), parse_selector(split.group(3))
    if key == "require":
        if relation == "after":
            return [RequireAfter(a, b, name)]
        _no_outcome(b, name)
        return [RequireBefore(a, b, name)]
    _no_outcome(a, name)
    return [ForbidAfter(a, b, name) if relation == "after" else ForbidBefore(a, b, name)]


def _no_outcome(selector: Selector, name: str) -> None:
    if selector.outcome is not None:
        raise VocabularyError(
            f"{selector.text!r}: a call's outcome is not known before it runs, so "
            f"'{name}' cannot be checked; drop 'passed'/'failed' there"
        )


def _stop_after(limit: int, name: str) -> Checker:
    if limit < 1:
        raise VocabularyError("stop after N failures: N must be at least 1")
    return StopAfterFailures(limit, " ".join(name.split()))


def _max(value: Any) -> list[Checker]:
    if not isinstance(value, dict) or not value:
        raise VocabularyError("max: expected a mapping such as {write: 20, network: 5}")
    found: list[Checker] = []
    for key, limit in value.items():
        if type(limit) is not int or limit < 0:
            raise VocabularyError(f"max: {key}: expected a whole number >= 0, not {limit!r}")
        found.append(Max(parse_selector(str(key)), limit, f"max {key}: {limit}"))
    return found
