"""What a killed llmos process leaves behind, found and settled by the next command.

Each llmos process that works in a workspace holds a **lease** there: a file in
`state/live/` that it keeps locked (`flock`) while it lives and removes when it exits. In
it the process notes, one JSON line each, the runs it starts (their session logs) and the
temporary files it creates (`fsutil.atomic_write_text`). The operating system drops the lock
however the process ends, `kill -9` included, so a lease nobody holds is a process that died
without cleaning up. The next command (`settle_leases`, with llmos/_internal/engine/settle.py):

- records each of its runs that has no ledger row as **crashed**, charged what the run's
  session log shows it spent (its last `cost_updated` event), adds a `run_finished` event
  to the log and seals it; a run whose row exists only has its log sealed;
- deletes the temporary files it left (half-written copies that were never renamed);
- says so once, then removes the lease.

Nothing here runs while a lease is held, so a run still going in another process is never
touched. Libraries used without the command line hold no lease (nothing is noted).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_DIR = "live"
_LEASE_SUFFIX = ".lease"


class Lease:
    """This process's lease on one workspace (see the module's docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / LEASE_DIR
        self._fd: int | None = None
        self.path: Path | None = None
        self.kept = False  # something could not be finished: leave it to the next command

    def note(self, kind: str, path: Path) -> None:
        """Note a run's session log (`run`) or a temporary file (`tmp`) this process made."""
        try:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            line = json.dumps({"kind": kind, "path": str(path)}) + "\n"
            os.write(self._fd, line.encode("utf-8"))
        except OSError as exc:  # a lease is a safety net: never a reason to fail a write
            log.debug("cannot note %s in the lease: %s", path, exc)

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Locked under a hidden name, then renamed: a lease is never seen unlocked.
        staging = self.folder / f".{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps({"kind": "pid", "pid": os.getpid()}) + "\n").encode())
        path = staging.with_name(staging.name[1:] + _LEASE_SUFFIX)
        staging.rename(path)
        self._fd, self.path = fd, path
        atexit.register(self.release)

    def release(self) -> None:
        """A clean exit: the lease goes (its runs were recorded, its files renamed)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self.path is not None and not self.kept:
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None


_active: Lease | None = None


def activate(state_dir: Path) -> Lease:
    """Hold a lease on the workspace whose state folder is `state_dir` (the command line
    does, for the workspace it opened). Created on first use: a command that writes
    nothing leaves no trace."""
    global _active
    if _active is None or _active.folder != state_dir / LEASE_DIR:
        if _active is not None:
            _active.release()
        _active = Lease(state_dir)
    return _active


def note_run(session_log: Path) -> None:
    if _active is not None:
        _active.note("run", session_log)


def note_temp(path: Path) -> None:
    if _active is not None:
        _active.note("tmp", path)


def leave_unfinished() -> None:
    """Something this process started could not be finished (a session log the disk had
    no room for): its lease stays after exit, so the next command settles it."""
    if _active is not None:
        _active.kept = True


def live_runs(state_dir: Path) -> dict[str, int]:
    """The runs going on now in live llmos processes: run id -> the pid holding its lease.
    Only a lease that is locked counts (its process is alive); a dead one's pid may since
    belong to any other process, so it is never reported."""
    live: dict[str, int] = {}
    for path in dead_leases(state_dir):  # every lease file; the lock says which are alive
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                notes = _read_notes(fd)
                pid = next((n.get("pid") for n in notes if n.get("kind") == "pid"), None)
                if isinstance(pid, int):
                    for note in notes:
                        if note.get("kind") == "run":
                            live[Path(str(note.get("path"))).stem] = pid
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return live


# Settling what dead processes left -----------------------------------------------------------
def dead_leases(state_dir: Path) -> list[Path]:
    folder = state_dir / LEASE_DIR
    try:
        paths = list(folder.iterdir())
    except OSError:
        return []
    return [p for p in paths if p.name.endswith(_LEASE_SUFFIX) and not p.name.startswith(".")]


def settle_leases(state_dir: Path, settle_run: Callable[[Path, int | None], T | None]) -> list[T]:
    """Settle every lease in `state_dir` whose process is gone: its temporary files are
    deleted, and `settle_run(session_log, pid)` records each of its runs
    (llmos/_internal/engine/settle.py). Returns what `settle_run` returned for each run it
    recorded."""
    settled: list[T] = []
    for path in dead_leases(state_dir):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            # Another command may have settled it meanwhile (and removed it): same file?
            try:
                if path.stat().st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue
            notes = _read_notes(fd)
            pid = next((n.get("pid") for n in notes if n.get("kind") == "pid"), None)
            for note in notes:
                if note.get("kind") == "tmp":
                    with contextlib.suppress(OSError):
                        Path(note["path"]).unlink()
            for note in notes:
                if note.get("kind") == "run":
                    done = settle_run(Path(note["path"]), pid)
                    if done is not None:
                        settled.append(done)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return settled


def _read_notes(fd: int) -> list[dict[str, Any]]:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    notes = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            note = json.loads(line)
            if isinstance(note, dict):
                notes.append(note)
    return notes


# Temporary files without a lease --------------------------------------------------------------
TEMP_MAX_AGE_SECS = 3600.0


def sweep_temp_files(folders: list[Path], *, max_age_secs: float = TEMP_MAX_AGE_SECS) -> list[Path]:
    """Remove `atomic_write_text` temporary files (`.NAME.PID-XXXX.tmp`) in `folders` whose
    writer is gone or that are older than `max_age_secs`. (`llmos doctor --repair`: files
    left by processes that held no lease.)"""
    removed = []
    now = time.time()
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            try:
                old = now - entry.stat(follow_symlinks=False).st_mtime > max_age_secs
            except OSError:
                continue
            if old or not _writer_alive(entry.name):
                stale = Path(entry.path)
                with contextlib.suppress(OSError):
                    stale.unlink()
                    removed.append(stale)
    return removed


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary file's name (`.NAME.PID-XXXX.tmp`) lives."""
    stem = name[: -len(".tmp")]
    pid_part = stem.rsplit(".", 1)[-1].split("-", 1)[0]
    if not pid_part.isdigit():
        return True  # not ours, or older than names with a pid: leave it to the age rule
    try:
        os.kill(int(pid_part), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
