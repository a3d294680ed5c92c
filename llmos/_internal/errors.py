"""The errors llmos expects. The CLI turns each into a message and an exit code, never a traceback.

Callers branch on the class and its fields, not on message text.
"""

from __future__ import annotations


class LlmosError(Exception):
    """An expected failure: something the user can act on."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LlmosError):
    """A bad option, name or argument."""

    exit_code = 2


class NoModelAccessError(LlmosError):
    """Nothing in the environment lets the Claude Code CLI reach a model."""

    exit_code = 3


class LowBatteryError(LlmosError):
    """The token economy's balance cannot pay for a run."""

    exit_code = 4

    def __init__(self, message: str, *, balance_usd: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.balance_usd = balance_usd


class RunFailedError(LlmosError):
    """A model run ended without what it was for: no structured answer, an invalid one, out
    of turns or budget. Exit 1, as a failed `llmos run` (not 5: the agent's CLI worked)."""

    exit_code = 1


class AgentError(LlmosError):
    """The agent (the SDK or its bundled CLI) failed: a dead model connection, a CLI crash."""

    exit_code = 5


class SandboxError(LlmosError):
    """A command must run in the OS sandbox (`sandbox: required`, or an imported trace) and
    this machine cannot provide one."""

    exit_code = 6


class TraceNotTrustedError(LlmosError):
    """A trace that was not learned here may replay only once a human approved its plan
    (`llmos traces trust ID`), and nobody could be asked."""


class TraceFormatError(LlmosError):
    """A trace file cannot be read back."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, hint=hint)
        self.path = path
        self.reason = message  # what is wrong, without the path


class WorkspaceStateError(LlmosError):
    """The workspace's files cannot be used as they are: a read-only folder, a full disk, a
    damaged or missing database. Nothing was changed; the message says what to do."""

    exit_code = 6


class DiskFullError(WorkspaceStateError):
    """A write failed for lack of space (ENOSPC, SQLITE_FULL)."""


class ReadOnlyWorkspaceError(WorkspaceStateError):
    """The workspace (or a file in it) cannot be written."""


class DamagedDatabaseError(WorkspaceStateError):
    """A database file is corrupt, truncated, unreadable, or missing where one existed."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path
