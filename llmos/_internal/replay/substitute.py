"""Putting a goal's own values into a trace learned with other ones (its slots).

Every whole-token occurrence of a learned value in the steps, their checks' paths and the
recorded answer is replaced by the new value, all at once (so `a -> b, b -> a` swaps). A
value never changes a shell command's structure: where it lands in a command it must be
safe for the quoting around it (or is quoted, outside quotes), and the command must split
into as many words as before; otherwise the trace is not replayed with it
(`Unsubstitutable`). Substituted steps then pass the security policy like any other step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
from collections.abc import Mapping
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.memory.step_kinds import FILE_WRITING_TOOLS
from llmos._internal.memory.template import value_pattern
from llmos._internal.memory.trace import Trace

_SAFE_BARE = re.compile(r"^[A-Za-z0-9_./:@%+=,\-]+$")
_UNSAFE_IN_DOUBLE = set('"$`\\!')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Unsubstitutable(Exception):
    """A value cannot be put into a step without changing what the step does."""


@frozen
class BoundTrace:
    """A trace with a goal's values in place of the learned ones."""

    trace: Trace
    values: Mapping[str, str]  # learned value -> the goal's
    paths: frozenset[str]  # the checked paths whose name the values changed

    @property
    def substituted(self) -> bool:
        return bool(self.values)


def bind(trace: Trace, values: Mapping[str, str]) -> BoundTrace:
    """`trace` with `values` in place. Raises `Unsubstitutable`."""
    if not values:
        return BoundTrace(trace, {}, frozenset())
    pattern = value_pattern(values)
    paths: set[str] = set()

    def put(text: str) -> str:
        return pattern.sub(lambda m: values[m.group(1)], text)

    steps = []
    for number, step in enumerate(trace.steps, start=1):
        tool_input = {
            key: (
                _into_command(value, pattern, values, number)
                if step.tool == "Bash" and key == "command" and isinstance(value, str)
                else _deep(value, put)
            )
            for key, value in step.input.items()
        }
        checks = dict(step.checks)
        for name in ("before", "after"):
            if isinstance(checks.get(name), dict):
                renamed = {put(path): state for path, state in checks[name].items()}
                paths |= {new for old, new in zip(checks[name], renamed, strict=True) if old != new}
                checks[name] = renamed
        if tool_input != step.input and step.tool.startswith("mcp__"):
            checks.pop("output_sha256", None)  # other arguments, another answer
        if tool_input != step.input and step.tool in FILE_WRITING_TOOLS:
            checks.pop("file_sha256", None)  # the content is another now
            if step.tool == "Write" and isinstance(tool_input.get("content"), str):
                content = tool_input["content"].encode("utf-8")
                checks["file_sha256"] = hashlib.sha256(content).hexdigest()
        steps.append(
            dataclasses.replace(
                step,
                input=tool_input,
                checks=checks,
                summary=put(step.summary),
                result=put(step.result),
            )
        )
    bound = dataclasses.replace(trace, steps=tuple(steps), result=put(trace.result))
    return BoundTrace(bound, dict(values), frozenset(paths))


def _deep(value: Any, put: Any) -> Any:
    if isinstance(value, str):
        return put(value)
    if isinstance(value, dict):
        return {k: _deep(v, put) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v, put) for v in value]
    return value


def _into_command(
    command: str, pattern: re.Pattern[str], values: Mapping[str, str], number: int
) -> str:
    quoting = _quoting(command)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(command):
        old, new = match.group(1), values[match.group(1)]
        start, end = match.span()
        where = {quoting[i] for i in range(start, end)}
        if len(where) != 1:
            raise _refuse(new, number, "it would straddle a quote")
        pieces += [command[last:start], _fit(old, new, where.pop(), number)]
        last = end
    result = "".join([*pieces, command[last:]])
    if result != command:
        before = _word_count(command)
        if before < 0 or _word_count(result) != before:
            raise _refuse(", ".join(values.values()), number, "the command would split differently")
    return result


def _fit(old: str, new: str, quoting: str, number: int) -> str:
    if _CONTROL.search(new):
        raise _refuse(new, number, "it holds a control character")
    if new.startswith("-") and not old.startswith("-"):
        raise _refuse(new, number, "it would read as an option")
    if quoting == "bare":
        if _SAFE_BARE.match(new) or (new.startswith("~") and old.startswith("~")):
            return new
        return shlex.quote(new)
    if quoting == "single" and "'" not in new:
        return new
    if quoting == "double" and not _UNSAFE_IN_DOUBLE & set(new):
        return new
    raise _refuse(new, number, f"it cannot go inside {quoting} quotes as it is")


def _quoting(command: str) -> list[str]:
    """For each character of a shell command: bare, single (quoted), double or escaped."""
    marks: list[str] = []
    state = "bare"
    escaped = False
    for char in command:
        if escaped:
            marks.append("escaped")
            escaped = False
            continue
        if state == "single":
            marks.append("single" if char != "'" else "quote")
            state = "bare" if char == "'" else state
        elif state == "double":
            if char == "\\":
                escaped = True
                marks.append("escaped")
            else:
                marks.append("double" if char != '"' else "quote")
                state = "bare" if char == '"' else state
        elif char == "\\":
            escaped = True
            marks.append("escaped")
        elif char in "'\"":
            marks.append("quote")
            state = "single" if char == "'" else "double"
        else:
            marks.append("bare")
    return marks


def _word_count(command: str) -> int:
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return len(list(lexer))
    except ValueError:
        return -1


def _refuse(value: str, number: int, why: str) -> Unsubstitutable:
    return Unsubstitutable(f"{value!r} cannot go into the command of step {number}: {why}")
