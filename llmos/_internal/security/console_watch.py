"""Whether a web console is watching the approvals inbox: the console holds a lock file while
it serves. Kept apart from the inbox so that a run can ask it without loading the inbox."""

from __future__ import annotations

from pathlib import Path


def console_lock_path(state_dir: Path) -> Path:
    """The web console holds this file locked (flock) while it runs; the OS drops the lock
    however it ends, so a crashed console is never taken for a running one."""
    return state_dir / "console.lock"


def console_running(state_dir: Path) -> bool:
    import fcntl

    path = console_lock_path(state_dir)
    if not path.exists():
        return False
    try:
        with path.open("a") as handle:
            try:  # consoles hold it shared: an exclusive lock is refused while one does
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def inbox_answered(state_dir: Path, approvals: str) -> bool:
    """Whether a run with nobody at its terminal puts its questions in the inbox: when the
    `approvals` setting says so ("console"), or ("auto") while a console is running."""
    return approvals == "console" or (approvals == "auto" and console_running(state_dir))
