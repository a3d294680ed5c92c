"""What a run changed in its working folder, and how to put it back.

Before a replayed step changes a file, its *pre-image* is kept (a copy, its mode); before a
replayed shell command, whose effects no one can list in advance, the whole working folder
is kept the same way (up to a size budget). If the replay diverges or is interrupted,
`rollback` puts every file back as it was: files the replay created are removed, changed or
removed ones restored, with their modes. A Learner run keeps the pre-images of the files its
Write and Edit calls change (a live shell command's effects are only listed).

`seal` writes the run's record (`state/undo/<run id>/record.json` and the pre-images beside
it) for `llmos undo`, which restores a file only while it is still as the run left it: a
file changed since is reported, not overwritten (unless forced).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmos.fsutil import atomic_write_bytes, atomic_write_text, file_state, sha256_file

log = logging.getLogger(__name__)

# How much a replay copies aside before a shell command (beyond it, files are listed as not
# restorable), and how many runs' records `llmos undo` keeps.
FOLDER_BUDGET_BYTES = 256 * 1024 * 1024
KEEP_RECORDS = 50


@dataclass
class _Before:
    kind: Literal["absent", "file", "dir", "link"]
    blob: str | None = None  # a file's copy, in the checkpoint's blobs/
    mode: int | None = None
    link: str | None = None


@dataclass
class Checkpoint:
    folder: Path  # state/undo/<run id>
    workdir: Path
    run_id: str
    goal: str
    mode: str
    budget_bytes: int = FOLDER_BUDGET_BYTES
    _before: dict[Path, _Before] = field(default_factory=dict)
    _whole_folder: bool = False
    _dirs: set[Path] = field(default_factory=set)
    _not_kept: list[str] = field(default_factory=list)  # over the budget
    _commands: list[str] = field(default_factory=list)  # whose effects cannot be undone
    _used: int = 0

    # Keeping ----------------------------------------------------------------------------
    def keep(self, path: Path) -> None:
        """Keep what is at `path` now, before something changes it (the first time only)."""
        path = Path(os.path.abspath(path))
        if path in self._before or not _inside(path, self.workdir):
            return
        try:
            info = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            self._before[path] = _Before("absent")
            return
        if stat.S_ISLNK(info.st_mode):
            self._before[path] = _Before("link", link=os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            self._before[path] = _Before("dir", mode=stat.S_IMODE(info.st_mode))
        elif stat.S_ISREG(info.st_mode):
            if self._used + info.st_size > self.budget_bytes:
                self._not_kept.append(self._rel(path))
                return
            blobs = self.folder / "blobs"
            blobs.mkdir(parents=True, exist_ok=True)
            blob = str(len(self._before))
            shutil.copyfile(path, blobs / blob)
            self._used += info.st_size
            self._before[path] = _Before("file", blob, stat.S_IMODE(info.st_mode))

    def keep_folder(self) -> None:
        """Keep the whole working folder, before a command whose effects are unknown."""
        if self._whole_folder:
            return
        self._whole_folder = True
        if not self.workdir.is_dir():
            return
        for root, dirs, files in os.walk(self.workdir):
            base = Path(root)
            self._dirs.add(base)
            for name in files + [d for d in dirs if (base / d).is_symlink()]:
                self.keep(base / name)

    def note_command(self, command: str) -> None:
        """A command a live run ran: its effects are listed, not undone."""
        self._commands.append(command)

    # Restoring --------------------------------------------------------------------------
    def rollback(self) -> list[str]:
        """Put the working folder back as it was before the run changed it. Returns the
        paths (relative) put back or removed; a file that could not be is logged."""
        touched: list[str] = []
        if self._whole_folder:
            for path in self._created():
                _remove(path)
                touched.append(self._rel(path))
            for path in sorted(self._dirs, key=lambda p: len(p.parts)):
                path.mkdir(parents=True, exist_ok=True)  # a folder the run removed
        for path, before in self._before.items():
            if self._changed(path, before):
                self._restore(path, before)
                touched.append(self._rel(path))
        if self._whole_folder:
            for path in sorted(self._new_dirs(), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()
        return sorted(set(touched))

    def seal(self) -> Path | None:
        """Write the record `llmos undo` reads; None when the run changed nothing."""
        entries = []
        for path, before in self._before.items():
            if not self._changed(path, before):
                continue
            entries.append(self._entry(path, before))
        if self._whole_folder:
            for path in self._created():
                if path not in self._before:
                    entries.append(self._entry(path, _Before("absent")))
        if not entries and not self._commands:
            shutil.rmtree(self.folder, ignore_errors=True)
            return None
        used = {e["before"].get("blob") for e in entries}
        blobs = self.folder / "blobs"
        if blobs.is_dir():
            for blob in blobs.iterdir():
                if blob.name not in used:
                    blob.unlink()
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
        path = self.folder / "record.json"
        atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False))
        prune(self.folder.parent)
        return path

    # Internals --------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return path.relative_to(self.workdir).as_posix()

    def _created(self) -> list[Path]:
        """Files and links under the working folder that were not there when it was kept."""
        found = []
        for root, dirs, files in os.walk(self.workdir):
            base = Path(root)
            for name in files + [d for d in dirs if (base / d).is_symlink()]:
                path = base / name
                if path not in self._before and self._rel(path) not in self._not_kept:
                    found.append(path)
        return found

    def _new_dirs(self) -> list[Path]:
        return [Path(root) for root, _, _ in os.walk(self.workdir) if Path(root) not in self._dirs]

    def _changed(self, path: Path, before: _Before) -> bool:
        try:
            info = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return before.kind != "absent"
        if before.kind == "link":
            return not stat.S_ISLNK(info.st_mode) or os.readlink(path) != before.link
        if before.kind == "dir":
            return not stat.S_ISDIR(info.st_mode)
        if before.kind != "file" or not stat.S_ISREG(info.st_mode):
            return True
        blob = self.folder / "blobs" / str(before.blob)
        return stat.S_IMODE(info.st_mode) != before.mode or not _same_content(path, blob)

    def _restore(self, path: Path, before: _Before) -> None:
        try:
            _remove(path)
            if before.kind == "file":
                data = (self.folder / "blobs" / str(before.blob)).read_bytes()
                atomic_write_bytes(path, data, mode=before.mode)
            elif before.kind == "link":
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(str(before.link), path)
            elif before.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("could not restore %s: %s", path, exc)

    def _entry(self, path: Path, before: _Before) -> dict[str, Any]:
        kept: dict[str, Any] = {"kind": before.kind}
        if before.kind == "file":
            blob = self.folder / "blobs" / str(before.blob)
            kept.update(blob=before.blob, mode=before.mode, state="sha256:" + sha256_file(blob))
        elif before.kind == "link":
            kept["link"] = before.link
        return {"path": self._rel(path), "before": kept, "after": file_state(path)}


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _same_content(path: Path, blob: Path) -> bool:
    if path.stat().st_size != blob.stat().st_size:
        return False
    return sha256_file(path) == sha256_file(blob)


def _remove(path: Path) -> None:
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass


def prune(folder: Path, keep: int = KEEP_RECORDS) -> None:
    """Drop all but the newest `keep` records (and any checkpoint left without a record)."""
    if not folder.is_dir():
        return
    runs = sorted(
        (p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for stale in runs[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


# Undo ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UndoStep:
    path: str
    action: Literal["restore", "remove", "unchanged", "conflict", "missing"]
    detail: str = ""


@dataclass(frozen=True)
class UndoPlan:
    record: dict[str, Any]
    steps: tuple[UndoStep, ...]

    @property
    def commands(self) -> list[str]:
        return list(self.record.get("commands") or [])

    @property
    def doable(self) -> list[UndoStep]:
        return [s for s in self.steps if s.action in ("restore", "remove")]


def read_record(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    return data


def plan_undo(folder: Path, *, force: bool = False) -> UndoPlan:
    """What undoing the run recorded in `folder` would do, file by file."""
    record = read_record(folder)
    workdir = Path(record["workdir"])
    steps = []
    for entry in record["entries"]:
        path, before = workdir / entry["path"], entry["before"]
        now = file_state(path)
        was = before.get("state") if before["kind"] == "file" else before["kind"]
        action: Literal["restore", "remove", "unchanged", "conflict", "missing"]
        if now == was:
            action, detail = "unchanged", "already as before the run"
        elif now != entry["after"] and not force:
            action, detail = "conflict", "changed since the run: left as it is (--force)"
        elif before["kind"] == "file" and not (folder / "blobs" / str(before["blob"])).exists():
            action, detail = "missing", "its copy is gone"
        elif before["kind"] == "absent":
            action, detail = "remove", "the run created it"
        else:
            action, detail = "restore", "put back as before the run"
        steps.append(UndoStep(entry["path"], action, detail))
    return UndoPlan(record, tuple(steps))


def apply_undo(folder: Path, plan: UndoPlan) -> list[UndoStep]:
    """Carry out `plan`; the record is then marked undone."""
    workdir = Path(plan.record["workdir"])
    entries = {e["path"]: e for e in plan.record["entries"]}
    done = []
    for step in plan.doable:
        entry, path = entries[step.path], workdir / step.path
        before = entry["before"]
        _remove(path)
        if before["kind"] == "file":
            data = (folder / "blobs" / str(before["blob"])).read_bytes()
            atomic_write_bytes(path, data, mode=before.get("mode"))
        elif before["kind"] == "link":
            os.symlink(before["link"], path)
        elif before["kind"] == "dir":
            path.mkdir(parents=True, exist_ok=True)
        done.append(step)
    record = dict(plan.record, undone_at=time.time())
    atomic_write_text(folder / "record.json", json.dumps(record, indent=1, ensure_ascii=False))
    return done
