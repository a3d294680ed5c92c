"""The audit trail as the gateway writes it: the same rows (llmos/_internal/security/audit.py), from
a thread of their own, in batches, on one connection.

Each row is a synced journal line and a commit (`state/audit.db` is journalled): several
milliseconds of disk time. A `llmos run` makes a few dozen decisions; a gateway makes them
for many clients at once, and its event loop must not wait on the disk before it releases a
tool call. So `record` queues the row; the writer drains the queue, committing what has
accumulated in one transaction. Closing the gateway waits for the queue to be written.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

from llmos._internal.security.audit import AuditLog, connect, insert_rows

log = logging.getLogger(__name__)


class BackgroundAudit(AuditLog):
    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="llmos-gateway-audit", daemon=True)
        self._thread.start()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        self._queue.put(rows)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until what was recorded so far is written."""
        written = threading.Event()
        self._queue.put(written)
        written.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        db = connect(self.db_path)  # made here: a connection belongs to its thread
        try:
            stopping = False
            while not stopping:
                items = [self._queue.get()]  # wait for work...
                while True:  # ...and take what else is queued, for the same transaction
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                rows: list[dict[str, Any]] = []
                waiting: list[threading.Event] = []
                for item in items:
                    if item is None:
                        stopping = True
                    elif isinstance(item, threading.Event):
                        waiting.append(item)
                    else:
                        rows.extend(item)
                if rows:
                    self._insert(db, rows)
                for event in waiting:
                    event.set()
        finally:
            db.close()

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        try:
            insert_rows(db, rows)
        except Exception:  # reported; the writer goes on with the next rows
            log.warning("could not write %d audit row(s)", len(rows), exc_info=True)


_Item = list[dict[str, Any]] | threading.Event | None
