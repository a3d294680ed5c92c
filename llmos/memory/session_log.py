"""The session log (L2): every event of a run, one JSON line each, in `memories/sessions/`."""

from __future__ import annotations

import json
from pathlib import Path

from llmos.fsutil import append_line
from llmos.kernel.events import Event


class SessionLog:
    """An event-bus subscriber that appends each event to `<sessions>/<run_id>.jsonl`."""

    def __init__(self, folder: Path, run_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{run_id}.jsonl"
        self._seq = 0

    def __call__(self, event: Event) -> None:
        self._seq += 1
        record = {"seq": self._seq, **event.to_dict()}
        append_line(self.path, json.dumps(record, ensure_ascii=False, default=str))


def read_session(path: Path) -> list[dict]:
    """The events of one session log; a torn last line (a crash mid-write) is ignored."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
