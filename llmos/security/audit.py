"""The audit trail of the security policy: one row per decision on a tool call, in the
workspace database (`state/llmos.db`, table ``policy_audit``, created by a migration in
`llmos/kernel/economy.py`).

A row holds when, which run, where the call came from (``learner``, ``follower``,
``import``...), the tool and its input, the final decision, what the policy itself said (an
``ask`` that a human approved is ``allow`` after ``ask``), the rule and reason, who approved
(``the user``, ``--yes``), and the input that ran when a human changed it. `llmos policy audit`
lists them.
"""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types), and the run guard (every `llmos run`) imports this module.

import json
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, NamedTuple

from llmos.database import transaction
from llmos.kernel.economy import connect
from llmos.text import capped

_MAX_INPUT_CHARS = 8000  # a Write's content can be large; the audit keeps the start


class AuditEntry(NamedTuple):
    at: float
    run_id: str
    source: str
    tool: str
    input: str  # JSON
    decision: str  # allow | deny (after any approval)
    policy_decision: str  # allow | ask | deny: what the policy said
    rule: str
    reason: str
    approved_by: str | None = None
    ran_input: str | None = None  # JSON, when a human changed the call

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        for key in ("input", "ran_input"):
            text = data[key]
            if text is not None:
                with suppress(ValueError):  # a truncated input stays text
                    data[key] = json.loads(text)
        return data


def input_json(value: Mapping[str, Any]) -> str:
    text = json.dumps(
        capped(dict(value), _MAX_INPUT_CHARS), ensure_ascii=False, sort_keys=True, default=str
    )
    return text if len(text) <= _MAX_INPUT_CHARS else text[:_MAX_INPUT_CHARS] + "…"


def insert_rows(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows (`AuditEntry._asdict()`) in one transaction of `db`."""
    if not rows:
        return
    columns = ", ".join(rows[0])
    values = ", ".join(":" + k for k in rows[0])
    with transaction(db) as cur:
        cur.executemany(f"INSERT INTO policy_audit({columns}) VALUES({values})", rows)


class AuditLog:
    """Appends decisions to the audit table and reads them back. Each call opens the
    database briefly: a run makes a few dozen decisions, and holds no connection meanwhile."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def record(
        self,
        *,
        run_id: str,
        source: str,
        tool: str,
        tool_input: Mapping[str, Any],
        decision: str,
        policy_decision: str,
        rule: str,
        reason: str,
        approved_by: str | None = None,
        ran_input: Mapping[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            at=time.time(),
            run_id=run_id,
            source=source,
            tool=tool,
            input=input_json(tool_input),
            decision=decision,
            policy_decision=policy_decision,
            rule=rule,
            reason=reason,
            approved_by=approved_by,
            ran_input=input_json(ran_input) if ran_input is not None else None,
        )
        self._write([entry._asdict()])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` in one transaction. (A long-lived writer, the gateway's, overrides
        this to write from a thread of its own: llmos/gateway/audit.py.)"""
        with closing(connect(self.db_path)) as db:
            insert_rows(db, rows)

    def entries(self, *, run: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """The latest `limit` decisions (of `run`, a run id or its prefix), oldest first."""
        query = "SELECT * FROM policy_audit"
        params: list[Any] = []
        if run:
            query += " WHERE run_id LIKE ? ESCAPE '\\'"
            params.append(run.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with closing(connect(self.db_path)) as db:
            rows = db.execute(query, params).fetchall()
        return [AuditEntry(**{k: row[k] for k in AuditEntry._fields}) for row in reversed(rows)]
