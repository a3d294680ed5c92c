"""The session log (L2): every event of a run as one JSON line, hash-chained and sealed.

`memories/sessions/<run_id>.jsonl`, one record per event:

    {"seq": 3, "at": 1767261600.12, "run_id": "...", "parent_run_id": null,
     "kind": "tool_requested", ...the event's fields..., "prev": "<hash of record 2>",
     "hash": "<sha256 of this record>"}

`hash` is the SHA-256 of the record without `hash`, as canonical JSON (sorted keys, no
spaces, UTF-8); `prev` is the previous record's hash (`GENESIS` for the first). Editing,
removing, inserting or reordering a record therefore breaks the chain at that point.

A chain cannot show that its *end* was cut off, so when the run's event bus closes the log
is sealed: `<run_id>.seal` records how many events the log holds and the last hash (the
head). `verify_session` checks both. A log without a seal (a run still going, a crash, or a
removed seal) verifies as "unsealed", never as "ok". The seal sits next to the log, so this
detects edits and cuts, not someone who rewrites a whole log and its seal consistently; copy
the heads `llmos sessions verify --json` prints somewhere else to guard against that too.

Records are appended with one `write(2)` each (`fsutil.append_line`): never torn or
interleaved; a crash can at worst leave an incomplete last line, which verification reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import append_line, atomic_write_text
from llmos._internal.kernel.bus import EventBus, Subscription
from llmos._internal.kernel.events import Event
from llmos._internal.text import capped

log = logging.getLogger(__name__)
# The longest string a record keeps whole (a Write's content, a command's output).
_MAX_STRING_CHARS = 64 * 1024

GENESIS = "0" * 64
LOG_SUFFIX = ".jsonl"
SEAL_SUFFIX = ".seal"
# The log must not lose events to the bus's overflow rule: its mailbox has room for any run
# (appending a line takes microseconds, so it never comes close).
QUEUE_SIZE = 100_000

VerifyStatus = Literal["ok", "unsealed", "truncated", "tampered", "unchained"]


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record (its `hash` field, if present, left out)."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


class SessionLog:
    """An event-bus subscriber that appends each event of one run to its chained log."""

    def __init__(self, folder: Path, run_id: str, *, parent_run_id: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.parent_run_id = parent_run_id  # the run this one works for (RunContext.parent_run)
        self.path = folder / f"{run_id}{LOG_SUFFIX}"
        self.seal_path = folder / f"{run_id}{SEAL_SUFFIX}"
        self._seq = 0
        self._head = GENESIS
        self._failed = False
        # the process's lease: a crash is settled later
        from llmos._internal.recovery import note_run

        note_run(self.path)

    @classmethod
    def resume(cls, path: Path, records: list[dict[str, Any]]) -> SessionLog:
        """The log at `path`, to go on appending after its `records` (read back with
        `read_session`): how the next command finishes the log of a run whose process died.
        A last line cut short by the crash is removed first."""
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
        first = records[0] if records else {}
        log = cls.__new__(cls)
        log.run_id = path.name.removesuffix(LOG_SUFFIX)
        log.parent_run_id = first.get("parent_run_id")
        log.path = path
        log.seal_path = path.with_name(f"{log.run_id}{SEAL_SUFFIX}")
        chained = [r for r in records if isinstance(r.get("seq"), int) and r.get("hash")]
        log._failed = False
        log._seq = chained[-1]["seq"] if chained else 0
        log._head = chained[-1]["hash"] if chained else GENESIS
        return log

    def attach(self, bus: EventBus) -> Subscription:
        """Subscribe to `bus`; the log seals itself after the bus delivered its last event."""
        return bus.subscribe(
            self,
            name="session-log",
            queue_size=QUEUE_SIZE,
            on_close=lambda sub: self.seal(dropped=sub.dropped),
        )

    def __call__(self, event: Event) -> None:
        if self._failed:
            return
        try:
            self.append(event.to_dict())
        except OSError as exc:
            # A full or read-only disk: said once; the next command seals the log (the
            # process's lease names it) once it can.
            self._failed = True
            from llmos._internal.recovery import leave_unfinished

            leave_unfinished()
            log.warning(
                "cannot write the session log %s (%s): its last events are lost",
                self.path,
                exc.strerror,
            )

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one record made of `fields` (an event's `to_dict()`); returns it."""
        self._seq += 1
        record: dict[str, Any] = {
            "seq": self._seq,
            "at": fields.get("at", time.time()),
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            **{k: v for k, v in fields.items() if k not in ("seq", "at", "run_id", "prev")},
            "prev": self._head,
        }
        # Hash exactly what a reader will parse back: tuples become lists, paths strings...
        # A tool input of megabytes is kept by the trace; the log keeps its start.
        record = json.loads(json.dumps(capped(record, _MAX_STRING_CHARS), default=str))
        record["hash"] = self._head = record_hash(record)
        append_line(self.path, json.dumps(record, ensure_ascii=False))
        return record

    def seal(self, *, dropped: int = 0) -> None:
        """Record the log's length and head hash, so a cut-off end is detected. (A log
        that could not be written whole is not sealed: it stays "unsealed".)"""
        if self._failed:
            return
        seal = {
            "run_id": self.run_id,
            "events": self._seq,
            "head": self._head,
            "dropped": dropped,
            "sealed_at": time.time(),
        }
        atomic_write_text(self.seal_path, json.dumps(seal, indent=2) + "\n")


def read_session(path: Path) -> list[dict[str, Any]]:
    """The events of one session log; an incomplete last line (a crash mid-write) is skipped."""
    events = []
    # A byte that is not UTF-8 (a damaged file) is shown as U+FFFD, not a crash.
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


# Finding logs ------------------------------------------------------------------------------
def session_logs(folder: Path) -> list[Path]:
    """Every session log in `folder`, newest first (run ids start with their start time)."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{LOG_SUFFIX}"), key=lambda p: p.name, reverse=True)


def find_session(folder: Path, run: str) -> Path:
    """The log of the run whose id is `run` or starts with it; a clear error otherwise."""
    run = run.strip()
    if not run:
        raise UsageError("no run id given", hint="See the run ids with `llmos sessions list`.")
    exact = folder / f"{run}{LOG_SUFFIX}"
    if exact.is_file():
        return exact
    matches = [p for p in session_logs(folder) if p.stem.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(
            f"no run {run!r} in {folder}", hint="See the run ids with `llmos sessions list`."
        )
    shown = ", ".join(p.stem for p in matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise UsageError(
        f"{run!r} matches {len(matches)} runs: {shown}", hint="Give more of the run id."
    )


# Verifying ---------------------------------------------------------------------------------
@frozen
class Verification:
    """What checking a run's session log found: how far its hash chain holds, and if it is whole."""

    run_id: str
    status: VerifyStatus
    events: int  # records whose hash chain checked out
    head: str  # the hash of the last of those
    detail: str
    dropped: int = 0  # events the bus dropped before they reached the log (from the seal)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def verify_session(path: Path) -> Verification:
    """Check a log's hash chain and its seal. Never raises for a damaged log: it reports."""
    run_id = path.name.removesuffix(LOG_SUFFIX)
    data = path.read_bytes()
    lines = data.split(b"\n")
    incomplete_tail = lines[-1] != b""  # the last write did not finish (or the file was cut)
    if not incomplete_tail:
        lines.pop()
    head, count = GENESIS, 0

    def result(status: VerifyStatus, detail: str, dropped: int = 0) -> Verification:
        return Verification(run_id, status, count, head, detail, dropped)

    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == len(lines) and incomplete_tail:
                break  # judged against the seal below
            return result("tampered", f"line {number} is not a JSON record")
        if "hash" not in record:
            if count == 0:
                return result("unchained", "written before session logs were hash-chained")
            return result("tampered", f"line {number} has no hash")
        seq, kind = record.get("seq"), record.get("kind", "?")
        if seq != count + 1:
            return result(
                "tampered",
                f"line {number} is event {seq}, expected {count + 1}: "
                "events were removed, inserted or reordered",
            )
        if record.get("run_id") != run_id:
            return result("tampered", f"event {seq} belongs to run {record.get('run_id')!r}")
        if record.get("prev") != head:
            return result(
                "tampered",
                f"the chain breaks before event {seq} ({kind}): an earlier event was "
                "changed, or events were removed",
            )
        if record_hash(record) != record["hash"]:
            return result("tampered", f"event {seq} ({kind}) was edited: it no longer matches")
        head, count = record["hash"], count + 1

    seal = _read_seal(path.with_name(f"{run_id}{SEAL_SUFFIX}"))
    if seal is None:
        why = "the last line is incomplete; " if incomplete_tail else ""
        return result(
            "unsealed",
            f"{why}no seal: the run is still going, crashed, or the seal was removed, "
            "so a cut-off end cannot be ruled out",
        )
    if not isinstance(seal, dict) or not isinstance(seal.get("events"), int):
        return result("tampered", "the seal is unreadable")
    dropped = int(seal.get("dropped") or 0)
    sealed_events = seal["events"]
    if count < sealed_events:
        return result(
            "truncated",
            f"the seal records {sealed_events} events but {count} remain: the end was cut",
            dropped,
        )
    if count > sealed_events:
        return result(
            "tampered", f"{count - sealed_events} event(s) were added after the seal", dropped
        )
    if seal.get("head") != head:
        return result("tampered", "the last event does not match the sealed head hash", dropped)
    note = f"; the bus dropped {dropped} event(s) before they reached the log" if dropped else ""
    return result("ok", f"{count} events, chain intact, sealed{note}", dropped)


def _read_seal(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return "unreadable"
