"""A run's history as governance sees it: the steps that ran, in the order they finished.

Checkers, routers and evaluators read it; plugins' Python checkers get it as their first
argument. A `Step` is a finished tool call (its kind from `kinds.py`, whether it worked, its
exit code); a `Call` is one about to run. `History` keeps a few running tallies (failures per
command, files read or written) so that questions asked on every call stay O(1).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.governance.kinds import StepKind, classify, command_key
from llmos._internal.security.lazy_regex import LazyRegex

_EXIT_CODE = LazyRegex(r"exit code (\d+)", re.IGNORECASE)
_FILE_TOOLS = frozenset({"Read", "NotebookRead", "Write", "Edit", "MultiEdit", "NotebookEdit"})


@frozen
class Call:
    """A tool call about to run."""

    tool: str
    input: Mapping[str, Any]
    kind: StepKind
    tool_use_id: str = ""
    agent: str | None = None
    new_file: bool = False  # a file tool's target does not exist yet

    @property
    def type(self) -> str:
        return self.kind.type

    @property
    def command(self) -> str:
        return str(self.input.get("command", "")) if self.tool == "Bash" else ""

    def has(self, name: str) -> bool:
        return self.kind.has(name)


@frozen
class Step:
    """A tool call that ran: `ok` is whether it worked (a command: exit code 0)."""

    number: int  # 1-based, in the order steps finished
    tool: str
    input: Mapping[str, Any]
    kind: StepKind
    ok: bool
    tool_use_id: str = ""
    agent: str | None = None
    summary: str = ""
    exit_code: int | None = None
    target: str = ""  # its file (relative to the working folder) or its command

    @property
    def type(self) -> str:
        return self.kind.type

    @property
    def command(self) -> str:
        return str(self.input.get("command", "")) if self.tool == "Bash" else ""

    def has(self, name: str) -> bool:
        return self.kind.has(name)

    def describe(self) -> str:
        """`step 3 (Write app.py)`."""
        what = f"{self.tool} {' '.join(self.target.split())}".strip()
        if len(what) > 80:
            what = what[:79] + "…"
        return f"step {self.number} ({what})"


def _file_of(tool_input: Mapping[str, Any]) -> str | None:
    for key in ("file_path", "notebook_path"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def exit_code_of(tool: str, ok: bool, summary: str) -> int | None:
    if tool != "Bash":
        return None
    if ok:
        return 0
    match = _EXIT_CODE.search(summary)
    return int(match.group(1)) if match else 1


@dataclass
class History:
    """The steps of one run so far, and what a checker needs to know about it."""

    goal: str = ""
    workdir: Path = field(default_factory=Path.cwd)
    budget_usd: float = 0.0
    spent: Callable[[], float] = lambda: 0.0
    denials: Callable[[], int] = lambda: 0
    steps: list[Step] = field(default_factory=list)
    failed_commands: Counter[str] = field(default_factory=Counter)
    files_read: set[str] = field(default_factory=set)
    files_written: set[str] = field(default_factory=set)
    failures: int = 0

    @property
    def spent_usd(self) -> float:
        return self.spent()

    def path(self, raw: str) -> str:
        """A file path as the history keeps it: absolute, normalised."""
        # A command's word, as text: an unknown `~user` stays as written (Path.expanduser()
        # raises), and `..` is collapsed as written (Path keeps it).
        return os.path.normpath(os.path.join(self.workdir, os.path.expanduser(raw)))  # noqa: PTH111, PTH118

    def call(
        self,
        tool: str,
        tool_input: Mapping[str, Any],
        *,
        tool_use_id: str = "",
        agent: str | None = None,
        plugin_kind: str | None = None,
        new_file: bool | None = None,
    ) -> Call:
        """A call about to run, classified. `new_file`: None asks the disk."""
        kind = classify(tool, dict(tool_input), plugin_kind)
        if new_file is None:
            target = _file_of(tool_input)
            new_file = target is not None and not os.path.lexists(self.path(target))
        return Call(tool, tool_input, kind, tool_use_id, agent, new_file)

    def add(self, call: Call, *, ok: bool, summary: str = "", exit_code: int | None = None) -> Step:
        """Record that `call` ran (and how); returns its step."""
        code = exit_code if exit_code is not None else exit_code_of(call.tool, ok, summary)
        target = _file_of(call.input)
        if target is not None:
            shown = os.path.relpath(self.path(target), self.workdir)
            target = target if shown.startswith("..") else shown
        step = Step(
            len(self.steps) + 1,
            call.tool,
            call.input,
            call.kind,
            ok,
            call.tool_use_id,
            call.agent,
            summary,
            code,
            target or call.command,
        )
        self.steps.append(step)
        if not ok:
            self.failures += 1
            if call.command:
                self.failed_commands[command_key(call.command)] += 1
        if target is not None and call.tool in _FILE_TOOLS and ok:
            path = self.path(target)
            (self.files_read if call.tool in ("Read", "NotebookRead") else self.files_written).add(
                path
            )
        elif ok and call.kind.has("read") and call.tool == "Bash":
            self.files_read.update(self.path(p) for p in call.kind.paths)
        return step

    # Questions plugins' checkers and routers may ask -----------------------------------------
    def of_type(self, name: str) -> list[Step]:
        """The steps that are of this type or kind (or have this trait)."""
        return [s for s in self.steps if s.has(name)]

    def last(self, name: str | None = None) -> Step | None:
        for step in reversed(self.steps):
            if name is None or step.has(name):
                return step
        return None

    def knows(self, raw_path: str) -> bool:
        """Whether the run has read or written this file."""
        path = self.path(raw_path)
        return path in self.files_read or path in self.files_written

    def times_failed(self, command: str) -> int:
        """How many times this command line failed in the run (whitespace aside)."""
        return self.failed_commands.get(command_key(command), 0)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)
