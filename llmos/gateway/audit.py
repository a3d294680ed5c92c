"""The audit trail as the gateway writes it: the same rows (llmos/security/audit.py), from a
thread of their own, in batches, on one connection.

Each row is a synced journal line and a commit (`state/llmos.db` is journalled): several
milliseconds of disk time. A `llmos run` makes a few dozen decisions; a gateway makes them
for many clients at once, and its event loop must not wait on the disk before it releases a
tool call. So `record` queues the row; the writer drains the queue, committing what has
accumulated in one transaction. Closing the gateway waits for the queue to be written.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from llmos.kernel.economy import connect
from llmos.security.audit import AuditLog, insert_rows

log = logging.getLogger(__name__)


class BackgroundAudit(AuditLog):
    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path)
        self._queue: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="llmos-gateway-audit", daemon=True)
        self._thread.start()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        self._queue.put(rows)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        db = connect(self.db_path)  # made here: a connection belongs to its thread
        try:
            running = True
            while running:
                first = self._queue.get()
                if first is None:
                    break
                batch = list(first)
                while True:  # what else is waiting goes in the same transaction
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        running = False
                        break
                    batch.extend(more)
                try:
                    insert_rows(db, batch)
                except Exception:  # reported; the writer goes on with the next rows
                    log.warning("could not write %d audit row(s)", len(batch), exc_info=True)
        finally:
            db.close()
