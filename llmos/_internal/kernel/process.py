"""The kernel process's files, as anyone reads them: its lock (`state/kernel.lock`, held
for its whole life), what it says about itself (`state/kernel.json`) and its schedule
(`state/schedule.db`). The process itself is llmos/_internal/daemon.py (an app); `llmos kernel
status`, `llmos schedule` and other apps read its state through here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.workspace import Workspace


def schedule_db(ws: Workspace) -> Path:
    return ws.state_dir / "schedule.db"


def lock_path(ws: Workspace) -> Path:
    return ws.state_dir / "kernel.lock"


def info_path(ws: Workspace) -> Path:
    return ws.state_dir / "kernel.json"


@frozen
class KernelState:
    """Whether the kernel is running and what it is doing, as its lock and kernel.json say."""

    running: bool
    pid: int | None = None
    started_at: float | None = None
    current: dict[str, Any] | None = None  # the job being run: id, goal, since

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def kernel_state(ws: Workspace) -> KernelState:
    """Whether a kernel holds the workspace's lock, and what it says about itself."""
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(info_path(ws).read_text(encoding="utf-8"))
    if not _lock_held(lock_path(ws)):
        return KernelState(running=False)
    pid = info.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return KernelState(True)  # a kernel that has not written kernel.json yet
    return KernelState(True, pid, info.get("started_at"), info.get("current"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _lock_held(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def interrupts_dir(ws: Workspace) -> Path:
    """Where the web console asks the kernel to interrupt one of its runs (a file per run)."""
    return ws.state_dir / "interrupts"


def request_interrupt(ws: Workspace, run_id: str, kernel_pid: int) -> None:
    """Ask the kernel to cancel its run `run_id` (llmos/_internal/daemon.py's SIGUSR1 handler reads
    the request; the kernel goes on)."""
    import signal
    import time

    from llmos._internal.fsutil import atomic_write_text

    folder = interrupts_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / run_id, f"{time.time()}\n")
    os.kill(kernel_pid, signal.SIGUSR1)
