"""`llmos undo`: put back what a run changed, from the record its checkpoint sealed
(llmos/_internal/replay/checkpoint.py). A file is put back only while it is still as the run left
it: one changed since is reported, not overwritten (unless forced)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text, file_state
from llmos._internal.replay.checkpoint import RECORD, put_back

Action = Literal["restore", "remove", "unchanged", "conflict", "missing"]


@frozen
class UndoStep:
    """What `llmos undo` does with one file the run changed, and why."""

    path: str
    action: Action
    detail: str = ""


@frozen
class UndoPlan:
    """What `llmos undo` would do for one run, from the record its checkpoint sealed."""

    record: dict[str, Any]
    steps: tuple[UndoStep, ...]

    @property
    def commands(self) -> list[str]:
        return list(self.record.get("commands") or [])

    @property
    def doable(self) -> list[UndoStep]:
        return [s for s in self.steps if s.action in ("restore", "remove")]


def records(undo_dir: Path) -> list[Path]:
    """The folders of the runs that can be undone, newest first."""
    found = sorted(undo_dir.glob(f"*/{RECORD}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.parent for p in found]


def read_record(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / RECORD).read_text(encoding="utf-8"))
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
        action: Action
        if now == was:
            action, detail = "unchanged", "already as before the run"
        elif now != entry["after"] and not force:
            action, detail = "conflict", "changed since the run: left as it is (--force)"
        elif before["kind"] == "file" and not (folder / str(before["blob"])).exists():
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
        before = entries[step.path]["before"]
        content = (folder / str(before["blob"])).read_bytes() if before["kind"] == "file" else None
        put_back(workdir / step.path, before, content)
        done.append(step)
    record = dict(plan.record, undone_at=time.time())
    atomic_write_text(folder / RECORD, json.dumps(record, indent=1, ensure_ascii=False))
    return done
