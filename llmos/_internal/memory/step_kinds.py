"""What kind of action a trace step is: it changed files, it only looked, or it delegated.

Trace capture, replay, templates and "what counts as learned" all ask this of a step, so the
answer lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Tools that change files, at a path given in their input.
FILE_WRITING_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
# Steps replay executes itself, in Python, in the run's working folder.
REPLAYED_TOOLS = FILE_WRITING_TOOLS | {"Bash"}
# Steps that only read or plan: they changed nothing, so replay has nothing to redo.
READ_ONLY_TOOLS = frozenset(
    {"Read", "Glob", "Grep", "LS", "TodoWrite", "WebSearch", "NotebookRead", "ToolSearch"}
)
# A delegation: the subagent's own tool calls are steps of the trace and are replayed.
DELEGATION_TOOLS = frozenset({"Agent", "Task"})
# Input fields that hold what the model wrote into a file (data, not parameters).
CONTENT_FIELDS = frozenset({"content", "new_string", "old_string", "new_source", "edits"})
# Input fields that are the model's own words about a call, not part of what it does.
PROSE_FIELDS = frozenset({"description"})

# Commands that only look: a failure of one of them undoes nothing the run did.
_LOOKING_COMMANDS = frozenset(
    "ls cat head tail wc grep egrep fgrep rg find stat file diff cmp test [ echo printf pwd "
    "which type true false du df tree less more sort uniq cut jq".split()
)
_FIRST_WORD = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*([^\s;&|<>()]+)")
_WRITES = re.compile(r"(?<![<>&0-9])>{1,2}(?!&)|\btee\b|-delete\b|-exec\b|\bxargs\b")


def strings_of(value: Any, field: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a step's input, with the top-level field it sits under."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_of(item, field or str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_of(item, field)


def changes_state(tool: str, tool_input: dict[str, Any]) -> bool:
    """Whether a call may have changed the world (so its failure matters to what was
    learned). Plugin tools and unknown tools are assumed to; a shell command only looks when
    its program is a known reader (`ls`, `cat`, `grep`...) and it redirects nowhere."""
    if tool in READ_ONLY_TOOLS or tool in DELEGATION_TOOLS:
        return False
    if tool == "Bash":
        command = str(tool_input.get("command", ""))
        first = _FIRST_WORD.match(command)
        if first and first.group(1) in _LOOKING_COMMANDS and not _WRITES.search(command):
            return any(sep in command for sep in (";", "&&", "||", "|", "\n"))
    return True
