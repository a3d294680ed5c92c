"""Trace capture: turns the tool calls a Learner run made into trace steps.

Fed by the PostToolUse and PostToolUseFailure hooks, so steps are in completion order
(the order their effects happened), subagents' calls included. Calls a guard denied
never complete and so never become steps; they stay in the session log.

A PreToolUse hook (`before_call`) notes the state of the files a call is about to touch
(the file a Write, Edit or Read names; the paths a shell command names), and the step
records it with the state the call left (`before`, `after`): the preconditions a replay
checks (llmos/_internal/replay/preconditions.py). A written file's mode is recorded too, so a replay
gives it the same one (a learned script stays executable).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.fsutil import file_state, sha256_file
from llmos._internal.memory.step_kinds import FILE_WRITING_TOOLS
from llmos._internal.memory.trace import TraceStep
from llmos._internal.text import one_line

_EXIT_CODE = re.compile(r"exit code (\d+)", re.IGNORECASE)
# What a word of a command must not hold to be taken for a path (globs, expansions...).
_NOT_A_PATH = set("*?[]{}$`<>|&;()=\\'\"!")
_MAX_COMMAND_PATHS = 32
_LOOKED_AT = frozenset({"Read", "NotebookRead"})


@dataclass
class TraceRecorder:
    """Turns one Learner run's tool calls into trace steps, with the files' states."""

    workdir: Path
    steps: list[TraceStep] = field(default_factory=list)
    _before: dict[str, dict[str, str]] = field(default_factory=dict)  # by tool_use_id

    def before_call(self, tool_use_id: str, tool: str, tool_input: dict[str, Any]) -> None:
        """Note the state of the files the call is about to touch."""
        paths = self.touched(tool, tool_input)
        if paths:
            self._before[tool_use_id] = {p: file_state(self.workdir / p) for p in paths}

    def touched(self, tool: str, tool_input: dict[str, Any]) -> list[str]:
        """The paths (relative to the working folder) a call touches, as far as its input
        says: the file of a file tool, the existing or file-like words of a command."""
        if tool == "Bash":
            return command_paths(str(tool_input.get("command", "")), self.workdir)
        if tool in FILE_WRITING_TOOLS or tool in _LOOKED_AT:
            raw = tool_input.get("file_path") or tool_input.get("notebook_path")
            if isinstance(raw, str):
                inside = _inside(self.workdir, raw)
                return [inside] if inside is not None else []
        return []

    def record(
        self,
        tool: str,
        tool_input: dict[str, Any],
        *,
        ok: bool,
        response: Any,
        agent: str | None = None,
        tool_use_id: str | None = None,
    ) -> TraceStep:
        portable = self._portable(tool_input)
        checks = self._checks(tool, tool_input, ok, response)
        before = self._before.pop(tool_use_id, None) if tool_use_id else None
        if before:
            checks["before"] = before
            if tool == "Bash" and ok:
                checks["after"] = {p: file_state(self.workdir / p) for p in before}
        step = TraceStep(
            tool=tool,
            input=portable,
            outcome="ok" if ok else "error",
            summary=_describe(tool, portable),
            result=summarize_response(response),
            agent=agent,
            checks=checks,
        )
        self.steps.append(step)
        return step

    def _portable(self, tool_input: dict[str, Any]) -> dict[str, Any]:
        """The CLI hands hooks absolute paths; a trace keeps those inside the working folder
        relative to it, so it replays in any workspace."""
        portable = dict(tool_input)
        for key in ("file_path", "notebook_path"):
            value = portable.get(key)
            if isinstance(value, str) and Path(value).is_absolute():
                with contextlib.suppress(ValueError):
                    portable[key] = str(Path(value).relative_to(self.workdir))
        return portable

    def _checks(
        self, tool: str, tool_input: dict[str, Any], ok: bool, response: Any
    ) -> dict[str, Any]:
        if tool == "Bash":
            if ok:
                return {"exit_code": 0}
            match = _EXIT_CODE.search(summarize_response(response, limit=2000))
            return {"exit_code": int(match.group(1))} if match else {}
        if tool in FILE_WRITING_TOOLS and ok:
            raw = tool_input.get("file_path") or tool_input.get("notebook_path")
            if isinstance(raw, str):
                path = (self.workdir / raw).resolve()
                if path.is_file():
                    mode = format(stat.S_IMODE(path.stat().st_mode), "o")
                    return {"file_sha256": sha256_file(path), "mode": mode}
        return {}


def command_paths(command: str, workdir: Path) -> list[str]:
    """The words of a shell command that name paths inside `workdir`: those that exist, and
    those that look like a file (a name with an extension, a path) that does not yet."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return []
    found: list[str] = []
    for word in words[1:]:
        if len(found) >= _MAX_COMMAND_PATHS:
            break
        if not word or word.startswith("-") or word in (".", "..") or _NOT_A_PATH & set(word):
            continue
        inside = _inside(workdir, word)
        if inside is None or inside in found:
            continue
        if os.path.lexists(workdir / inside) or "/" in word or "." in word.strip("."):
            found.append(inside)
    return found


def _inside(workdir: Path, raw: str) -> str | None:
    """`raw` as a path relative to `workdir`, if it is inside it."""
    # An unknown `~user` in a command's word stays as written: Path.expanduser() would raise.
    path = Path(os.path.normpath(workdir / os.path.expanduser(raw)))  # noqa: PTH111
    try:
        relative = path.relative_to(workdir)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else None


def _describe(tool: str, tool_input: dict[str, Any]) -> str:
    description = tool_input.get("description")
    if isinstance(description, str) and description.strip():
        return description
    for key in ("command", "file_path", "notebook_path", "pattern", "path", "url", "prompt"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return f"{tool} {value}"
    return tool


def summarize_response(response: Any, *, limit: int = 200) -> str:
    """A short, single-line account of a tool's result, whatever shape the tool returned."""
    if response is None:
        return ""
    if isinstance(response, str):
        return one_line(response, limit)
    if isinstance(response, dict):
        if isinstance(response.get("filePath"), str):  # Write, Edit: {type, filePath, ...}
            return one_line(f"{response.get('type') or 'wrote'} {response['filePath']}", limit)
        if "stdout" in response or "stderr" in response:  # Bash
            output = f"{response.get('stdout') or ''} {response.get('stderr') or ''}".strip()
            return one_line(output, limit) if output else "(no output)"
        parts = [
            str(response[key])
            for key in ("error", "message", "content", "result", "type")
            if response.get(key) not in (None, "")
        ]
        if parts:
            return one_line(" | ".join(parts), limit)
    if isinstance(response, list):
        texts = [b.get("text", "") for b in response if isinstance(b, dict)]
        return one_line(" ".join(t for t in texts if t), limit)
    return one_line(str(response), limit)
