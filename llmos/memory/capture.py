"""Trace capture: turns the tool calls a Learner run made into trace steps.

Fed by the PostToolUse and PostToolUseFailure hooks, so steps are in completion order
(the order their effects happened), subagents' calls included. Calls a guard denied
never complete and so never become steps; they stay in the session log.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.fsutil import sha256_file
from llmos.kernel.hooks import FILE_WRITING_TOOLS
from llmos.memory.trace import TraceStep, one_line

_EXIT_CODE = re.compile(r"exit code (\d+)", re.IGNORECASE)


@dataclass
class TraceRecorder:
    workdir: Path
    steps: list[TraceStep] = field(default_factory=list)

    def record(
        self,
        tool: str,
        tool_input: dict[str, Any],
        *,
        ok: bool,
        response: Any,
        agent: str | None = None,
    ) -> TraceStep:
        portable = self._portable(tool_input)
        step = TraceStep(
            tool=tool,
            input=portable,
            outcome="ok" if ok else "error",
            summary=_describe(tool, portable),
            result=summarize_response(response),
            agent=agent,
            checks=self._checks(tool, tool_input, ok, response),
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

    def _checks(self, tool: str, tool_input: dict[str, Any], ok: bool, response: Any) -> dict:
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
                    return {"file_sha256": sha256_file(path)}
        return {}


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
