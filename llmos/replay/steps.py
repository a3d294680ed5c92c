"""Executing one recorded step, with its pre- and post-conditions.

Each executor does what the Claude Code tool of the same name did, in Python, in the
run's working folder, and checks what the trace recorded: an Edit's old text must be there,
a written file must end with the recorded hash, a command must exit with the recorded
status. Anything else is a `Divergence`: the world is not the one the trace was learned in.
An llmos plugin tool's step calls the plugin's function (llmos/plugins/run_tools.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos.fsutil import atomic_write_text, sha256_file
from llmos.memory.trace import TraceStep, one_line
from llmos.plugins.run_tools import ReplayRefused, current_tools
from llmos.plugins.types import is_plugin_tool_name
from llmos.security.sandbox import sandbox_env, sandboxed_argv
from llmos.security.sandbox_run import current_profile

# The Bash tool's limits: two minutes unless the call asked for more, ten at most.
BASH_DEFAULT_TIMEOUT_MS = 120_000
BASH_MAX_TIMEOUT_MS = 600_000


class Divergence(Exception):
    """A step's pre- or post-condition failed."""


def execute(step: TraceStep, workdir: Path) -> str:
    """Run `step` in `workdir`; return a one-line account. Raise `Divergence` on a mismatch."""
    if is_plugin_tool_name(step.tool):
        return _plugin_call(step, workdir)
    executor = _EXECUTORS[step.tool]
    summary = executor(step.input, workdir, step.checks)
    expected = step.checks.get("file_sha256")
    if expected:
        path = _path(step.input, workdir)
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != expected:
            raise Divergence(f"{path.name} does not have the recorded content after the step")
    return summary


def _plugin_call(step: TraceStep, workdir: Path) -> str:
    """A plugin tool's call: its function called again, directly (no model, no MCP); its
    version must be compatible with the recorded one and its output the recorded output."""
    tools = current_tools()
    if tools is None:
        raise Divergence("no plugin tools are loaded for this run")
    try:
        return tools.replay(step, workdir)
    except ReplayRefused as exc:
        raise Divergence(str(exc)) from exc


def _path(tool_input: dict[str, Any], workdir: Path) -> Path:
    raw = tool_input.get("file_path") or tool_input.get("notebook_path")
    return (workdir / str(raw)).resolve()


def _read(path: Path) -> str:
    if not path.is_file():
        raise Divergence(f"{path.name} does not exist")
    return path.read_text(encoding="utf-8")


def _write(tool_input: dict[str, Any], workdir: Path, checks: dict[str, Any]) -> str:
    path = _path(tool_input, workdir)
    atomic_write_text(path, str(tool_input.get("content", "")))
    return f"wrote {path.name}"


def _apply_edit(text: str, old: str, new: str, replace_all: bool, name: str) -> str:
    count = text.count(old) if old else 0
    if count == 0:
        raise Divergence(f"{name} no longer contains the text the step replaces")
    if count > 1 and not replace_all:
        raise Divergence(f"the text the step replaces occurs {count} times in {name}")
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _edit(tool_input: dict[str, Any], workdir: Path, checks: dict[str, Any]) -> str:
    path = _path(tool_input, workdir)
    text = _apply_edit(
        _read(path),
        str(tool_input.get("old_string", "")),
        str(tool_input.get("new_string", "")),
        bool(tool_input.get("replace_all")),
        path.name,
    )
    atomic_write_text(path, text)
    return f"edited {path.name}"


def _multi_edit(tool_input: dict[str, Any], workdir: Path, checks: dict[str, Any]) -> str:
    path = _path(tool_input, workdir)
    text = _read(path)
    edits = tool_input.get("edits") or []
    for edit in edits:
        text = _apply_edit(
            text,
            str(edit.get("old_string", "")),
            str(edit.get("new_string", "")),
            bool(edit.get("replace_all")),
            path.name,
        )
    atomic_write_text(path, text)
    return f"applied {len(edits)} edit(s) to {path.name}"


def _notebook_edit(tool_input: dict[str, Any], workdir: Path, checks: dict[str, Any]) -> str:
    path = _path(tool_input, workdir)
    try:
        notebook = json.loads(_read(path))
        cells: list[dict[str, Any]] = notebook["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise Divergence(f"{path.name} is not a notebook this step can edit ({exc})") from exc
    mode = tool_input.get("edit_mode") or "replace"
    cell_id = tool_input.get("cell_id")
    index = next((i for i, c in enumerate(cells) if c.get("id") == cell_id), None)
    if cell_id is not None and index is None and mode != "insert":
        raise Divergence(f"{path.name} has no cell {cell_id}")
    source = str(tool_input.get("new_source", ""))
    cell_type = tool_input.get("cell_type") or (
        cells[index]["cell_type"] if index is not None else "code"
    )
    if mode == "delete":
        del cells[index if index is not None else 0]
    elif mode == "insert":
        new_cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source}
        if cell_type == "code":
            new_cell.update(outputs=[], execution_count=None)
        cells.insert(0 if index is None else index + 1, new_cell)
    else:
        target = cells[index if index is not None else 0]
        target["source"] = source
        target["cell_type"] = cell_type
    atomic_write_text(path, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return f"{mode}d a cell of {path.name}"


def _bash(tool_input: dict[str, Any], workdir: Path, checks: dict[str, Any]) -> str:
    command = str(tool_input["command"])
    timeout_ms = min(int(tool_input.get("timeout") or BASH_DEFAULT_TIMEOUT_MS), BASH_MAX_TIMEOUT_MS)
    try:
        proc = subprocess.run(
            sandboxed_argv(command, workdir, current_profile()),  # llmos/security/sandbox_run.py
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_ms / 1000,
            env=sandbox_env(os.environ, current_profile()),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Divergence(f"the command ran past its {timeout_ms / 1000:g} s timeout") from exc
    expected = int(checks.get("exit_code", 0))
    output = one_line((proc.stdout + " " + proc.stderr).strip(), 160)
    if proc.returncode != expected:
        raise Divergence(
            f"the command exited with {proc.returncode}, not {expected} as recorded"
            + (f" ({output})" if output else "")
        )
    return output or f"exit {proc.returncode}"


_EXECUTORS: dict[str, Callable[[dict[str, Any], Path, dict[str, Any]], str]] = {
    "Write": _write,
    "Edit": _edit,
    "MultiEdit": _multi_edit,
    "NotebookEdit": _notebook_edit,
    "Bash": _bash,
}
