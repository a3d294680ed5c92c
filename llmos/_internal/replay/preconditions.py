"""Is the working folder still the world the trace was learned in?

Each step recorded what it found in the files it touched (`before`: `sha256:…`, `absent`,
`dir`, `large`) and, for a change, what it left (`after`, or a written file's
`file_sha256`). Before the first step of a replay runs, every file the trace touches is
compared with what the trace can account for: its state before the first step that touched
it, or after the last one (a goal replayed twice finds its own result). Anything else means
someone changed the file since (the user edited it by hand): the replay does not touch a
thing, and auto mode learns the goal again.

A path that the goal's own values renamed (a template match: llmos/_internal/replay/substitute.py)
names another file than the one learned, so its content cannot be compared; what is checked
is what the steps assume of it: a file they read or edit exists, and a file they create is
not already there with something else in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from llmos._internal.frozen import frozen
from llmos._internal.fsutil import file_state
from llmos._internal.memory.step_kinds import FILE_WRITING_TOOLS
from llmos._internal.memory.trace import TraceStep


@frozen
class Changed:
    """A file that is not as the trace expects."""

    path: str
    step: int
    expected: tuple[str, ...]
    found: str

    def describe(self) -> str:
        wanted = " or ".join(_say(s) for s in self.expected)
        return (
            f"{self.path} changed since the trace was learned: step {self.step} expects "
            f"{wanted}, and it is {_say(self.found)}"
        )


def changed_files(
    steps: Iterable[tuple[int, TraceStep]], workdir: Path, renamed: frozenset[str] = frozenset()
) -> Changed | None:
    """The first file (by step) that is not in a state the trace accounts for, or None."""
    first: dict[str, tuple[int, str, TraceStep]] = {}
    last_after: dict[str, str] = {}
    for number, step in steps:
        if step.outcome != "ok":
            continue
        for path, state in (step.checks.get("before") or {}).items():
            first.setdefault(path, (number, state, step))
        for path, state in (step.checks.get("after") or {}).items():
            last_after[path] = state
        written = _written(step)
        if written is not None:
            last_after[written[0]] = written[1]
    for path, (number, before, step) in first.items():
        now = file_state(workdir / path)
        if path in renamed:
            expected = _renamed_expectation(before, step, path)
            if expected is not None and not _fits(now, expected):
                return Changed(path, number, expected, now)
            continue
        allowed = (before,) if path not in last_after else (before, last_after[path])
        if not _fits(now, allowed):
            return Changed(path, number, tuple(dict.fromkeys(allowed)), now)
    return None


def _written(step: TraceStep) -> tuple[str, str] | None:
    if step.tool not in FILE_WRITING_TOOLS or not step.checks.get("file_sha256"):
        return None
    raw = step.input.get("file_path") or step.input.get("notebook_path")
    return (str(raw), "sha256:" + str(step.checks["file_sha256"])) if raw else None


def _renamed_expectation(before: str, step: TraceStep, path: str) -> tuple[str, ...] | None:
    if before == "absent":
        if step.tool not in FILE_WRITING_TOOLS:
            return None  # a command's target: it writes over what is there, as asked
        written = _written(step)
        return ("absent", written[1]) if written and written[0] == path else ("absent",)
    if before == "dir":
        return ("dir",)
    return ("file",)


def _fits(now: str, allowed: tuple[str, ...]) -> bool:
    if now in allowed:
        return True
    return "file" in allowed and (now.startswith("sha256:") or now == "large")


def _say(state: str) -> str:
    if state == "absent":
        return "no file there"
    if state == "dir":
        return "a folder"
    if state == "large":
        return "a large file"
    if state == "file":
        return "a file"
    return f"the file with content {state.removeprefix('sha256:')[:12]}"
