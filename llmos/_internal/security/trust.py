"""Which traces may replay: those learned here, those signed by a key this workspace trusts,
and those a human has looked at and approved once. A trace from anywhere else is untrusted.

A trace file is data anyone can edit, so the mark is not in it: it lives in llmos's own
state (`state/trust.db`, guarded by the hard rule `llmos-state` like all of `state/`),
keyed by the trace's goal signature and the hash of what it would do (`plan_hash`: its
steps' tools, inputs and outcomes, and its answer; not its statistics, which every replay
rewrites). A trace edited after it was learned, imported or approved has another hash, and
so no trust: it needs a human's approval again.

Origins: `learned` (a Learner run here saved it), `signed` (imported from a library signed
by a key of `llmos traces keys`), `imported` (any other import) and, for a file that no
command of llmos put in the library, none at all. Learned and signed traces are trusted;
the others once a human approved them, and then they replay only inside the OS sandbox
(`llmos/_internal/security/sandbox_run.py`).

The database is made once; a workspace from before llmos kept trust has its traces adopted
as learned at that moment (`_adopt_existing`). Whoever recreates a lost or broken trust.db
(a repair) must not adopt again: pass `traces_dir=None`, or imported traces become trusted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmos._internal.database import open_database, transaction
from llmos._internal.frozen import frozen

if TYPE_CHECKING:
    from llmos._internal.memory.trace import Trace
    from llmos._internal.workspace import Workspace

Origin = Literal["learned", "signed", "imported", "unknown"]
TRUST_DB = "trust.db"

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE trust (
        signature TEXT NOT NULL,      -- the trace's goal signature
        plan_sha256 TEXT NOT NULL,    -- what it does (plan_hash)
        origin TEXT NOT NULL,         -- learned | signed | imported
        detail TEXT NOT NULL,         -- where it came from, in words
        key_id TEXT,                  -- the key it was signed with (origin signed)
        recorded_at REAL NOT NULL,
        approved_by TEXT,             -- who approved this plan, if anyone did
        approved_at REAL,
        PRIMARY KEY (signature, plan_sha256)
    );
    CREATE TABLE trusted_keys (
        key_id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,     -- ed25519, raw 32 bytes, base64
        name TEXT NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)


def plan_hash(trace: Trace) -> str:
    """The SHA-256 of what `trace` would do when replayed: its goal, each step's tool, input,
    outcome (a failed step is skipped) and agent, and its answer."""
    body = {
        "goal": trace.goal_signature,
        "steps": [[s.tool, s.input, s.outcome, s.agent] for s in trace.steps],
        "result": trace.result,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@frozen
class TrustState:
    """What llmos knows of one trace's origin, and whether it may replay."""

    signature: str
    trusted: bool
    origin: Origin
    detail: str  # "learned here", "imported from /x.md", "signed by key ab12 (alice)"
    approved_by: str | None = None
    edited: bool = False  # the trace's plan changed since it was recorded

    @property
    def needs_sandbox(self) -> bool:
        """Only what was learned here, or signed by a trusted key, may replay outside the OS
        sandbox; what a human approved replays inside it."""
        return not (self.trusted and self.origin in ("learned", "signed"))

    @property
    def label(self) -> str:
        """One word for listings."""
        if self.trusted:
            return "approved" if self.approved_by else self.origin
        return "edited" if self.edited else "untrusted"

    def explain(self) -> str:
        """Where the trace comes from and whether it may replay, as a phrase that follows
        "this trace was": "imported from /x.md (unsigned), and no human has approved..."."""
        if self.trusted and self.approved_by:
            return f"{self.detail}; its plan was approved by {self.approved_by}"
        if self.trusted:
            return self.detail
        if self.edited:
            return f"{self.detail}, and edited since: a human must approve its plan again"
        if self.origin == "unknown":
            return (
                "neither learned here nor imported with `llmos traces import`, and no human "
                "has approved its plan"
            )
        return f"{self.detail}, and no human has approved its plan yet"


class TrustStore:
    """`state/trust.db`: the trust of each trace plan, and the keys trusted for imports."""

    def __init__(self, db_path: Path, traces_dir: Path | None = None) -> None:
        fresh = not db_path.exists()
        self._db = open_database(db_path, _MIGRATIONS)
        if fresh and traces_dir is not None:
            self._adopt_existing(traces_dir)

    @classmethod
    def of(cls, ws: Workspace) -> TrustStore:
        return cls(ws.state_dir / TRUST_DB, ws.traces_dir)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrustStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Traces --------------------------------------------------------------------------------
    def check(self, trace: Trace) -> TrustState:
        """Whether `trace`, as it is now, may replay, and why."""
        digest = plan_hash(trace)
        rows = self._db.execute(
            "SELECT * FROM trust WHERE signature = ? ORDER BY recorded_at DESC",
            (trace.goal_signature,),
        ).fetchall()
        exact = next((r for r in rows if r["plan_sha256"] == digest), None)
        if exact is not None:
            trusted = exact["origin"] in ("learned", "signed") or exact["approved_by"] is not None
            return TrustState(
                trace.goal_signature,
                trusted,
                exact["origin"],
                exact["detail"],
                exact["approved_by"],
            )
        if rows:  # llmos knew another plan under this goal: the file was edited since
            latest = rows[0]
            return TrustState(
                trace.goal_signature, False, latest["origin"], latest["detail"], edited=True
            )
        return TrustState(trace.goal_signature, False, "unknown", "of unknown origin")

    def record(
        self, trace: Trace, origin: Origin, detail: str, *, key_id: str | None = None
    ) -> TrustState:
        """Note where `trace` (as it is now) came from."""
        with transaction(self._db) as cur:
            cur.execute(
                "INSERT INTO trust (signature, plan_sha256, origin, detail, key_id, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (signature, plan_sha256) DO UPDATE SET"
                " origin = excluded.origin, detail = excluded.detail, key_id = excluded.key_id,"
                " recorded_at = excluded.recorded_at",
                (trace.goal_signature, plan_hash(trace), origin, detail, key_id, time.time()),
            )
        return self.check(trace)

    def record_learned(self, trace: Trace) -> TrustState:
        return self.record(trace, "learned", "learned here")

    def approve(self, trace: Trace, *, by: str) -> TrustState:
        """A human has seen `trace`'s plan and lets it replay (inside the sandbox)."""
        state = self.check(trace)
        if state.origin == "unknown" or state.edited:
            origin: Origin = "imported" if state.origin != "learned" else "learned"
            detail = state.detail if state.origin != "unknown" else "put in the library by hand"
            with transaction(self._db) as cur:
                cur.execute(
                    "INSERT OR IGNORE INTO trust (signature, plan_sha256, origin, detail,"
                    " recorded_at) VALUES (?, ?, ?, ?, ?)",
                    (trace.goal_signature, plan_hash(trace), origin, detail, time.time()),
                )
        with transaction(self._db) as cur:
            cur.execute(
                "UPDATE trust SET approved_by = ?, approved_at = ? WHERE signature = ? AND"
                " plan_sha256 = ?",
                (by, time.time(), trace.goal_signature, plan_hash(trace)),
            )
        return self.check(trace)

    def revoke(self, trace: Trace) -> TrustState:
        """Withdraw a human's approval of `trace`'s plan (`llmos traces untrust`)."""
        with transaction(self._db) as cur:
            cur.execute(
                "UPDATE trust SET approved_by = NULL, approved_at = NULL WHERE signature = ?",
                (trace.goal_signature,),
            )
            cur.execute(
                "UPDATE trust SET origin = 'imported' WHERE signature = ? AND origin = 'signed'",
                (trace.goal_signature,),
            )
        return self.check(trace)

    def forget(self, signature: str) -> None:
        with transaction(self._db) as cur:
            cur.execute("DELETE FROM trust WHERE signature = ?", (signature,))

    # Keys ----------------------------------------------------------------------------------
    def add_key(self, key_id: str, public_key: str, name: str) -> None:
        with transaction(self._db) as cur:
            cur.execute(
                "INSERT INTO trusted_keys (key_id, public_key, name, added_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key_id) DO UPDATE SET name = excluded.name",
                (key_id, public_key, name, time.time()),
            )

    def trusted_key(self, key_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM trusted_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        return row

    def trusted_keys(self) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = self._db.execute(
            "SELECT * FROM trusted_keys ORDER BY added_at"
        ).fetchall()
        return rows

    def remove_key(self, key_id: str) -> int:
        """Stop trusting a key; the traces imported as signed by it lose that trust (those a
        human approved keep the approval). Returns how many traces it concerned."""
        with transaction(self._db) as cur:
            cur.execute("DELETE FROM trusted_keys WHERE key_id = ?", (key_id,))
            cur.execute(
                "UPDATE trust SET origin = 'imported' WHERE origin = 'signed' AND key_id = ?",
                (key_id,),
            )
            return cur.rowcount

    # Upgrading -----------------------------------------------------------------------------
    def _adopt_existing(self, traces_dir: Path) -> None:
        """A workspace from before llmos kept trust: its traces were in its library already,
        learned or imported under the old rules, and are taken as learned (once: when this
        database is made). Any trace added afterwards is judged by its origin."""
        from llmos._internal.errors import LlmosError
        from llmos._internal.memory.trace import parse

        adopted = 0
        for path in sorted(traces_dir.glob("*.md")) if traces_dir.is_dir() else []:
            try:
                trace = parse(path.read_text(encoding="utf-8"), source=str(path))
            except (OSError, UnicodeDecodeError, LlmosError):
                continue
            self.record(trace, "learned", "in the library before llmos kept trust")
            adopted += 1
        with transaction(self._db) as cur:
            cur.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('adopted', ?)",
                (json.dumps({"traces": adopted, "at": time.time()}),),
            )
