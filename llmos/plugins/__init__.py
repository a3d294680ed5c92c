"""llmos plugins: tools, event hooks and agents written in Python.

For plugin authors, the whole API is this module::

    from pathlib import Path
    from llmos.plugins import Plugin, inside

    plugin = Plugin("dates", description="Calendar arithmetic.")

    @plugin.tool(version="1.0.0")
    def days_between(start: str, end: str) -> int:
        '''Days from START to END (ISO dates, YYYY-MM-DD).'''
        ...

Put the module in `<workspace>/plugins/`, or ship it in a package with an entry point in
the group `llmos.plugins`. See `llmos/_internal/plugins/types.py` for tools, hooks and agents, and
the repository's `plugins/` folder for examples. Importing this module never loads the SDK.

Here too: the events a hook receives (`RunFinished`...), `atomic_write_text` for a tool that
writes a file, and what governance rules read and return (`History`, `Step`, `Call`,
`Route`, `Score`, `STEP_TYPES`). A plugin needs nothing else of llmos; the rest is internal
(`llmos._internal`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.agents.spec import AgentSpec
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.kernel.events import (
    AssistantText,
    CheckerResults,
    CostUpdated,
    Event,
    JobFinished,
    JobMissed,
    JobStarted,
    MemoryInjected,
    ModelTurn,
    Notice,
    PlanReady,
    RouteTaken,
    RunFinished,
    RunStarted,
    ScoreRecorded,
    SubtaskChanged,
    ToolDecision,
    ToolFinished,
    ToolRequested,
    WatchdogTripped,
)
from llmos._internal.plugins.types import Plugin, PluginError

if TYPE_CHECKING:
    from llmos._internal.governance import STEP_TYPES, Call, History, Route, Score, Step

__all__ = [
    "STEP_TYPES",
    "AgentSpec",
    "AssistantText",
    "Call",
    "CheckerResults",
    "CostUpdated",
    "Event",
    "History",
    "JobFinished",
    "JobMissed",
    "JobStarted",
    "MemoryInjected",
    "ModelTurn",
    "Notice",
    "PlanReady",
    "Plugin",
    "PluginError",
    "Route",
    "RouteTaken",
    "RunFinished",
    "RunStarted",
    "Score",
    "ScoreRecorded",
    "Step",
    "SubtaskChanged",
    "ToolDecision",
    "ToolFinished",
    "ToolRequested",
    "WatchdogTripped",
    "atomic_write_text",
    "inside",
]
_GOVERNANCE = frozenset({"STEP_TYPES", "Call", "History", "Route", "Score", "Step"})


def __getattr__(name: str) -> Any:
    # Governance's vocabulary is loaded on first use: a replay loads only what it needs.
    if name in _GOVERNANCE:
        return getattr(importlib.import_module("llmos._internal.governance"), name)
    raise AttributeError(f"module 'llmos.plugins' has no attribute {name!r}")


def inside(workdir: Path, path: str) -> Path:
    """`path` (relative to the run's working folder, or absolute) resolved, symlinks
    included; ValueError if it lies outside the working folder. Tools that touch files
    should take their paths through this, as llmos's own file tools are kept inside it."""
    root = Path(workdir).resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{path} is outside the working folder; use a path inside it")
    return target
