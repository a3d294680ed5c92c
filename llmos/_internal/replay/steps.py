"""Executing one recorded step, with its pre- and post-conditions.

Each executor does what the Claude Code tool of the same name did, in Python, in the
run's working folder, and checks what the trace recorded: an Edit's old text must be there,
a written file must end with the recorded hash (and gets the recorded mode), a command must
exit with the recorded status. Anything else is a `Divergence`: the world is not the one the
trace was learned in. An llmos plugin tool's step calls the plugin's function
(llmos/_internal/plugins/run_tools.py). Before a step changes anything, the run's `Checkpoint` keeps
what it will change (llmos/_internal/replay/checkpoint.py), so a replay can be rolled back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text, sha256_file
from llmos._internal.memory.capture import summarize_response
from llmos._internal.memory.trace import TraceStep
from llmos._internal.plugins.run_tools import ReplayRefused, RunTools
from llmos._internal.plugins.types import is_plugin_tool_name
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.command import CommandTimeout, run_command
from llmos._internal.security.sandbox import SandboxProfile, sandbox_env, sandboxed_argv

# The Bash tool's limits: two minutes unless the call asked for more, ten at most.
BASH_DEFAULT_TIMEOUT_MS = 120_000
BASH_MAX_TIMEOUT_MS = 600_000


class Divergence(Exception):
    """A step's pre- or post-condition failed."""


class StepTimeout(Exception):
    """A step ran past the run's own time limit (`--timeout`, `tool_timeout_secs`)."""


@frozen
class StepDone:
    """A step that ran and passed its checks, and how to report it."""

    summary: str  # one line for the terminal and the session log
    output: str | None = None  # what a command printed, as trace capture summarises it


def execute(
    step: TraceStep,
    workdir: Path,
    checkpoint: Checkpoint,
    *,
    limit_secs: float | None = None,
    tools: RunTools | None = None,
    sandbox: SandboxProfile | None = None,
) -> StepDone:
    """Run `step` in `workdir`: a plugin tool's with the run's `tools`, a command inside the
    run's `sandbox` (None: without one). Raise `Divergence` on a mismatch, `StepTimeout` when
    the step outlives `limit_secs`."""
    if is_plugin_tool_name(step.tool):
        checkpoint.keep_folder()  # a plugin may write where it likes in the folder
        return StepDone(_plugin_call(step, workdir, tools))
    if step.tool == "Bash":
        checkpoint.keep_folder()  # nobody can list a command's effects beforehand
        return _bash(step.input, workdir, step.checks, limit_secs, sandbox)
    path = _path(step.input, workdir)
    checkpoint.keep(path)
    summary = _FILE_EXECUTORS[step.tool](step.input, path)
    expected = step.checks.get("file_sha256")
    if expected:
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != expected:
            raise Divergence(f"{path.name} does not have the recorded content after the step")
    mode = step.checks.get("mode")
    if mode and path.is_file():
        path.chmod(int(mode, 8))
    return StepDone(summary)


def _plugin_call(step: TraceStep, workdir: Path, tools: RunTools | None) -> str:
    """A plugin tool's call: its function called again, directly (no model, no MCP); its
    version must be compatible with the recorded one and its output the recorded output."""
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


def _write(tool_input: dict[str, Any], path: Path) -> str:
    atomic_write_text(path, str(tool_input.get("content", "")))
    return f"wrote {path.name}"


def _apply_edit(text: str, old: str, new: str, replace_all: bool, name: str) -> str:
    count = text.count(old) if old else 0
    if count == 0:
        raise Divergence(f"{name} no longer contains the text the step replaces")
    if count > 1 and not replace_all:
        raise Divergence(f"the text the step replaces occurs {count} times in {name}")
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _edit(tool_input: dict[str, Any], path: Path) -> str:
    text = _apply_edit(
        _read(path),
        str(tool_input.get("old_string", "")),
        str(tool_input.get("new_string", "")),
        bool(tool_input.get("replace_all")),
        path.name,
    )
    atomic_write_text(path, text)
    return f"edited {path.name}"


def _multi_edit(tool_input: dict[str, Any], path: Path) -> str:
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


def _notebook_edit(tool_input: dict[str, Any], path: Path) -> str:
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


def _bash(
    tool_input: dict[str, Any],
    workdir: Path,
    checks: dict[str, Any],
    limit: float | None,
    sandbox: SandboxProfile | None,
) -> StepDone:
    command = str(tool_input["command"])
    own_ms = min(int(tool_input.get("timeout") or BASH_DEFAULT_TIMEOUT_MS), BASH_MAX_TIMEOUT_MS)
    own_secs = own_ms / 1000
    secs = own_secs if limit is None else min(own_secs, limit)
    try:
        done = run_command(
            command,
            workdir,
            timeout_secs=secs,
            argv=sandboxed_argv(command, workdir, sandbox),  # security/sandbox_run.py
            env=sandbox_env(os.environ, sandbox),
            dies_with_parent=sandbox is not None,  # bubblewrap --die-with-parent
        )
    except CommandTimeout as exc:
        if limit is not None and limit < own_secs:
            raise StepTimeout(f"the command {exc}") from exc
        raise Divergence(f"the command {exc}, unlike when it was learned") from exc
    output = summarize_response({"stdout": done.stdout, "stderr": done.stderr})
    expected = int(checks.get("exit_code", 0))
    if done.exit_code != expected:
        raise Divergence(
            f"the command exited with {done.exit_code}, not {expected} as recorded"
            + (f" ({output})" if output != "(no output)" else "")
        )
    return StepDone(output if output != "(no output)" else f"exit {done.exit_code}", output)


_FILE_EXECUTORS: dict[str, Callable[[dict[str, Any], Path], str]] = {
    "Write": _write,
    "Edit": _edit,
    "MultiEdit": _multi_edit,
    "NotebookEdit": _notebook_edit,
}
