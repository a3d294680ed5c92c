"""A tool call in words, on one line: how a run's timeline, its live view in the terminal,
an approval question, a replay's dry run and the gateway's log all name a call. Every
`llmos run` loads it, a replay included: it imports nothing the replay does not already."""

from __future__ import annotations

import json
from typing import Any

from llmos._internal.text import one_line


def describe_call(tool: str, tool_input: dict[str, Any], *, limit: int | None = 100) -> str:
    """What a tool call does, on one line: its command, path or pattern (else its input as
    JSON), cut to `limit` characters (None: whole) for a live stream of calls."""
    for key in ("command", "file_path", "notebook_path", "pattern", "path", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return _line(value, limit)
    return _line(json.dumps(tool_input, ensure_ascii=False), limit)


def _line(text: str, limit: int | None) -> str:
    return " ".join(text.split()) if limit is None else one_line(text, limit)
