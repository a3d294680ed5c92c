"""llmos: an LLM operating system on the Claude Agent SDK.

The public API for a program that embeds llmos (ARCHITECTURE.md, "The public API")::

    from llmos import RunRequest, Workspace, run_goal_blocking

    ws = Workspace.open()  # $LLMOS_HOME, else ~/.llmos
    summary = run_goal_blocking(ws, RunRequest(goal="Write notes.txt"))
    print(summary.status, summary.cost_usd)

`run_goal` is the same as a coroutine, `plan_goal` says what a run would do (the dry run).
Expected failures raise an `LlmosError` subclass (its `exit_code` is the command line's).
Plugins use `llmos.plugins`. Everything else is internal, under `llmos._internal`: it
may change in any release.

Names are imported on first use, so `import llmos` (and every `llmos.*` import, which
imports this package first) stays free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.engine.types import Mode, RunRequest, RunSummary
    from llmos._internal.errors import (
        AgentError,
        LlmosError,
        LowBatteryError,
        NoModelAccessError,
        RunFailedError,
        SandboxError,
        TraceNotTrustedError,
        UsageError,
        WorkspaceStateError,
    )
    from llmos._internal.modes.dispatcher import DryRun, plan_goal, run_goal, run_goal_blocking
    from llmos._internal.workspace import Workspace

__version__ = "0.1.0"

_HOMES = {
    "run_goal": "llmos._internal.modes.dispatcher",
    "run_goal_blocking": "llmos._internal.modes.dispatcher",
    "plan_goal": "llmos._internal.modes.dispatcher",
    "DryRun": "llmos._internal.modes.dispatcher",
    "RunRequest": "llmos._internal.engine.types",
    "RunSummary": "llmos._internal.engine.types",
    "Mode": "llmos._internal.engine.types",
    "Workspace": "llmos._internal.workspace",
    "LlmosError": "llmos._internal.errors",
    "UsageError": "llmos._internal.errors",
    "NoModelAccessError": "llmos._internal.errors",
    "LowBatteryError": "llmos._internal.errors",
    "RunFailedError": "llmos._internal.errors",
    "AgentError": "llmos._internal.errors",
    "SandboxError": "llmos._internal.errors",
    "TraceNotTrustedError": "llmos._internal.errors",
    "WorkspaceStateError": "llmos._internal.errors",
}

__all__ = [
    "AgentError",
    "DryRun",
    "LlmosError",
    "LowBatteryError",
    "Mode",
    "NoModelAccessError",
    "RunFailedError",
    "RunRequest",
    "RunSummary",
    "SandboxError",
    "TraceNotTrustedError",
    "UsageError",
    "Workspace",
    "WorkspaceStateError",
    "__version__",
    "plan_goal",
    "run_goal",
    "run_goal_blocking",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmos' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
