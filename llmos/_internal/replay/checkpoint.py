"""What a run changed in its working folder, and how to put it back.

Before a replayed step changes a file, its *pre-image* is kept (its bytes, its mode); before a
replayed shell command, whose effects no one can list in advance, the whole working folder
is kept the same way (up to a size budget). If the replay diverges or is interrupted,
`rollback` puts every file back as it was: files the replay created are removed, changed or
removed ones restored, with their modes. A Learner run keeps the pre-images of the files its
Write and Edit calls change (a live shell command's effects are only listed).

Pre-images are held in memory, and spill to the checkpoint's folder past a size; `seal` then
writes the run's record (`state/undo/<run id>/record.json` and the pre-images of the files
that did change) for `llmos undo` (llmos/_internal/replay/undo.py). A replay that changed nothing
writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, NamedTuple

from llmos._internal.fsutil import atomic_write_bytes, atomic_write_text, file_state

log = logging.getLogger(__name__)

# How much a run keeps aside (beyond it, files are listed as not restorable), how much of
# that in memory, and how many runs' records `llmos undo` keeps.
BUDGET_BYTES = 256 * 1024 * 1024
MEMORY_BYTES = 32 * 1024 * 1024
KEEP_RECORDS = 50
RECORD = "record.json"


class _Before(NamedTuple):
    kind: str  # absent, file, dir, link
    data: bytes | None = None  # a file's content, when held in memory
    spilled: str | None = None  # else its copy in the checkpoint's folder
    mode: int | None = None
    link: str | None = None


class Checkpoint:
    """The pre-images of one run's changes to its working folder."""

    def __init__(self, folder: Path, workdir: Path, run_id: str, goal: str, mode: str) -> None:
        self.folder = folder  # state/undo/<run id>
        # Lexical (abspath, not resolve()), like the paths kept below: both as the run names them.
        self.workdir = Path(os.path.abspath(workdir))  # noqa: PTH100
        self.run_id, self.goal, self.mode = run_id, goal, mode
        self._before: dict[Path, _Before] = {}
        self._whole_folder = False
        self._dirs: set[Path] = set()
        self._not_kept: list[str] = []  # over the budget
        self._commands: list[str] = []  # a live run's commands, whose effects stay
        self._kept_bytes = 0

    # Keeping ----------------------------------------------------------------------------
    def keep(self, path: Path) -> None:
        """Keep what is at `path` now, before something changes it (the first time only)."""
        # abspath, not resolve(): a link at `path` is what must be kept, not where it leads.
        path = Path(os.path.abspath(path))  # noqa: PTH100
        if path in self._before or not _inside(path, self.workdir):
            return
        try:
            info = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            self._before[path] = _Before("absent")
            return
        if stat.S_ISLNK(info.st_mode):
            # The link's text as written: Path.readlink() normalises it (`dir/`, `./x`).
            self._before[path] = _Before("link", link=os.readlink(path))  # noqa: PTH115
        elif stat.S_ISDIR(info.st_mode):
            self._before[path] = _Before("dir")
        elif stat.S_ISREG(info.st_mode):
            self._keep_file(path, info)

    def _keep_file(self, path: Path, info: os.stat_result) -> None:
        if self._kept_bytes + info.st_size > BUDGET_BYTES:
            self._not_kept.append(self._rel(path))
            return
        mode = stat.S_IMODE(info.st_mode)
        if self._kept_bytes + info.st_size <= MEMORY_BYTES:
            self._before[path] = _Before("file", data=path.read_bytes(), mode=mode)
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"spill-{len(self._before)}"
            shutil.copyfile(path, self.folder / name)
            self._before[path] = _Before("file", spilled=name, mode=mode)
        self._kept_bytes += info.st_size

    def keep_folder(self) -> None:
        """Keep the whole working folder, before a command whose effects are unknown."""
        if self._whole_folder:
            return
        self._whole_folder = True
        for base, names in _walk(self.workdir):
            self._dirs.add(base)
            for name in names:
                self.keep(base / name)

    def note_command(self, command: str) -> None:
        """A command a live run ran: its effects are listed, not undone."""
        self._commands.append(command)

    # Restoring --------------------------------------------------------------------------
    def rollback(self) -> list[str]:
        """Put the working folder back as it was before the run changed it. Returns the
        paths (relative) put back or removed; one that could not be is logged."""
        touched: set[str] = set()
        if self._whole_folder:
            for path in self._created():
                _remove(path)
                touched.add(self._rel(path))
            for folder in sorted(self._dirs, key=lambda p: len(p.parts)):
                folder.mkdir(parents=True, exist_ok=True)  # a folder the run removed
        for path, before in self._before.items():
            if self._changed(path, before):
                try:
                    put_back(path, before, self._content(before))
                except OSError as exc:
                    log.warning("could not restore %s: %s", path, exc)
                touched.add(self._rel(path))
        if self._whole_folder:
            new_dirs = [base for base, _ in _walk(self.workdir) if base not in self._dirs]
            for folder in sorted(new_dirs, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        return sorted(touched)

    def seal(self) -> Path | None:
        """Write the record `llmos undo` reads; None (and nothing written) when the run
        changed nothing."""
        changed = [(p, b) for p, b in self._before.items() if self._changed(p, b)]
        if self._whole_folder:
            changed += [(p, _Before("absent")) for p in self._created()]
        if not changed and not self._commands:
            shutil.rmtree(self.folder, ignore_errors=True)
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = [
            self._entry(number, path, before) for number, (path, before) in enumerate(changed)
        ]
        for leftover in self.folder.glob("spill-*"):
            leftover.unlink()
        record = {
            "run_id": self.run_id,
            "goal": self.goal,
            "mode": self.mode,
            "workdir": str(self.workdir),
            "sealed_at": time.time(),
            "entries": entries,
            "commands": self._commands,
            "not_kept": self._not_kept,
        }
        path = self.folder / RECORD
        atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False))
        prune(self.folder.parent)
        return path

    # Internals --------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return path.relative_to(self.workdir).as_posix()

    def _content(self, before: _Before) -> bytes | None:
        if before.data is not None:
            return before.data
        return (self.folder / before.spilled).read_bytes() if before.spilled else None

    def _created(self) -> list[Path]:
        """Files and links under the working folder that were not there when it was kept."""
        return [
            base / name
            for base, names in _walk(self.workdir)
            for name in names
            if base / name not in self._before and self._rel(base / name) not in self._not_kept
        ]

    def _changed(self, path: Path, before: _Before) -> bool:
        try:
            info = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return before.kind != "absent"
        if before.kind == "link":
            return not stat.S_ISLNK(info.st_mode) or os.readlink(path) != before.link  # noqa: PTH115
        if before.kind == "dir":
            return not stat.S_ISDIR(info.st_mode)
        if before.kind != "file" or not stat.S_ISREG(info.st_mode):
            return True
        if stat.S_IMODE(info.st_mode) != before.mode:
            return True
        if before.data is not None:
            return info.st_size != len(before.data) or path.read_bytes() != before.data
        return _differs(path, self.folder / str(before.spilled))

    def _entry(self, number: int, path: Path, before: _Before) -> dict[str, Any]:
        kept: dict[str, Any] = {"kind": before.kind}
        if before.kind == "file":
            blob = f"blob-{number}"
            atomic_write_bytes(self.folder / blob, self._content(before) or b"")
            kept.update(blob=blob, mode=before.mode, state=file_state(self.folder / blob))
        elif before.kind == "link":
            kept["link"] = before.link
        return {"path": self._rel(path), "before": kept, "after": file_state(path)}


def _walk(folder: Path) -> list[tuple[Path, list[str]]]:
    """Each folder under `folder` with its files and links (links to folders included)."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        found.append((base, files + [d for d in dirs if (base / d).is_symlink()]))
    return found


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _differs(path: Path, copy: Path) -> bool:
    if path.stat().st_size != copy.stat().st_size:
        return True
    with path.open("rb") as mine, copy.open("rb") as theirs:
        while True:
            chunk = mine.read(1 << 20)
            if chunk != theirs.read(1 << 20):
                return True
            if not chunk:
                return False


def _remove(path: Path) -> None:
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass


def put_back(path: Path, before: _Before | dict[str, Any], content: bytes | None) -> None:
    """Make `path` what `before` says it was: absent, a file (`content`), a link, a folder."""
    kind = before.kind if isinstance(before, _Before) else before["kind"]
    mode = before.mode if isinstance(before, _Before) else before.get("mode")
    link = before.link if isinstance(before, _Before) else before.get("link")
    _remove(path)
    if kind == "file":
        atomic_write_bytes(path, content or b"", mode=mode)
    elif kind == "link":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(str(link))
    elif kind == "dir":
        path.mkdir(parents=True, exist_ok=True)


def prune(folder: Path, keep: int = KEEP_RECORDS) -> None:
    """Drop all but the newest `keep` records."""
    if not folder.is_dir():
        return
    runs = sorted(
        (p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for stale in runs[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
