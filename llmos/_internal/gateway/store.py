"""What the gateway keeps between requests and across restarts: `state/gateway.db` (SQLite).

- `keys`: gateway keys (only their SHA-256 is stored; the key is shown once, when made),
  each with an optional budget;
- `conversations`: one row per client conversation (how requests are grouped:
  llmos/_internal/gateway/conversations.py), kept current as it goes: its requests, model calls,
  tool calls, refusals and cost (what a key's budget is counted from);
- `conversation_runs`: the llmos runs of each conversation (a conversation idle past
  `idle_close_secs` is closed; if its client comes back, it goes on as a new run).

The money itself is in the ledger (`state/llmos.db`): each run of a conversation gets its
ledger row when it closes. This database only indexes and counts.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from llmos._internal.database import open_database, transaction
from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen

KEY_PREFIX = "sk-llmos-"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE keys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        key_sha256 TEXT NOT NULL UNIQUE,
        budget_usd REAL,
        created_at REAL NOT NULL
    );
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        key_id INTEGER,
        key_name TEXT,
        fingerprint TEXT NOT NULL,
        title TEXT NOT NULL,
        started_at REAL NOT NULL,
        last_at REAL NOT NULL,
        status TEXT NOT NULL,
        model TEXT,
        requests INTEGER NOT NULL DEFAULT 0,
        model_calls INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        denied INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        workdir TEXT NOT NULL
    );
    CREATE INDEX conversations_by_fingerprint ON conversations(fingerprint, last_at);
    CREATE INDEX conversations_by_key ON conversations(key_id);
    CREATE INDEX conversations_by_time ON conversations(last_at);
    CREATE TABLE conversation_runs (
        run_id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        started_at REAL NOT NULL
    );
    CREATE INDEX runs_by_conversation ON conversation_runs(conversation_id, started_at);
    """,
)


@frozen
class GatewayKey:
    """A gateway key as stored (never the key itself), with what its clients spent."""

    id: int
    name: str
    budget_usd: float | None
    created_at: float
    spent_usd: float = 0.0

    @property
    def left_usd(self) -> float | None:
        return None if self.budget_usd is None else self.budget_usd - self.spent_usd


@frozen
class ConversationRow:
    """One client conversation, as `state/gateway.db` records it."""

    id: str
    key_name: str | None
    title: str
    started_at: float
    last_at: float
    status: str
    model: str | None
    requests: int
    model_calls: int
    tool_calls: int
    denied: int
    cost_usd: float
    workdir: str
    runs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "runs": list(self.runs)}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_key_name(name: str) -> str:
    if not name or len(name) > 64 or set(name) - _NAME_CHARS:
        raise UsageError(
            f"invalid key name {name!r}",
            hint="Use 1-64 letters, digits, '-', '_' or '.'.",
        )
    return name


class GatewayStore:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn = open_database(db_path, _MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> GatewayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Keys ----------------------------------------------------------------------------------
    def add_key(self, name: str, *, budget_usd: float | None = None) -> tuple[GatewayKey, str]:
        """Make a key; returns it and its secret (shown once: only its hash is kept)."""
        check_key_name(name)
        secret = KEY_PREFIX + secrets.token_urlsafe(24)
        now = time.time()
        try:
            with transaction(self._conn) as cur:
                cur.execute(
                    "INSERT INTO keys(name, key_sha256, budget_usd, created_at) VALUES(?,?,?,?)",
                    (name, hash_key(secret), budget_usd, now),
                )
                key_id = int(cur.lastrowid or 0)
        except sqlite3.IntegrityError as exc:
            raise UsageError(
                f"a gateway key named {name!r} exists already",
                hint=f"Remove it first (`llmos gateway keys rm {name}`) or choose another name.",
            ) from exc
        return GatewayKey(key_id, name, budget_usd, now), secret

    def remove_key(self, name: str) -> None:
        with transaction(self._conn) as cur:
            cur.execute("DELETE FROM keys WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise UsageError(
                    f"no gateway key named {name!r}", hint="See `llmos gateway keys list`."
                )

    def set_key_budget(self, name: str, budget_usd: float | None) -> None:
        with transaction(self._conn) as cur:
            cur.execute("UPDATE keys SET budget_usd = ? WHERE name = ?", (budget_usd, name))
            if cur.rowcount == 0:
                raise UsageError(
                    f"no gateway key named {name!r}", hint="See `llmos gateway keys list`."
                )

    def key_for(self, secret: str) -> GatewayKey | None:
        """The key whose secret this is (None for any other text, a client's own API key)."""
        if not secret.startswith(KEY_PREFIX):
            return None
        row = self._conn.execute(
            "SELECT * FROM keys WHERE key_sha256 = ?", (hash_key(secret),)
        ).fetchone()
        return None if row is None else self._key(row)

    def key_by_id(self, key_id: int) -> GatewayKey | None:
        row = self._conn.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else self._key(row)

    def keys(self) -> list[GatewayKey]:
        rows = self._conn.execute("SELECT * FROM keys ORDER BY name").fetchall()
        return [self._key(row) for row in rows]

    def has_keys(self) -> bool:
        return self._conn.execute("SELECT 1 FROM keys LIMIT 1").fetchone() is not None

    def _key(self, row: sqlite3.Row) -> GatewayKey:
        spent = self._conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM conversations WHERE key_id = ?", (row["id"],)
        ).fetchone()[0]
        return GatewayKey(
            row["id"], row["name"], row["budget_usd"], row["created_at"], float(spent)
        )

    # Conversations -------------------------------------------------------------------------
    def open_conversation(
        self,
        conversation_id: str,
        *,
        run_id: str,
        key: GatewayKey | None,
        fingerprint: str,
        title: str,
        workdir: Path,
    ) -> None:
        """Record a conversation's new run: the conversation is made, or opened again."""
        now = time.time()
        with transaction(self._conn) as cur:
            cur.execute(
                "INSERT INTO conversations(id, key_id, key_name, fingerprint, title, started_at,"
                " last_at, status, workdir) VALUES(?,?,?,?,?,?,?, 'open', ?)"
                " ON CONFLICT(id) DO UPDATE SET status = 'open', last_at = excluded.last_at",
                (
                    conversation_id,
                    key.id if key else None,
                    key.name if key else None,
                    fingerprint,
                    title,
                    now,
                    now,
                    str(workdir),
                ),
            )
            cur.execute(
                "INSERT INTO conversation_runs(run_id, conversation_id, started_at) VALUES(?,?,?)",
                (run_id, conversation_id, now),
            )

    def count(self, conversation_id: str, **increments: float) -> None:
        """Add to a conversation's counters (`requests=1`, `cost_usd=0.002`...)."""
        allowed = {"requests", "model_calls", "tool_calls", "denied", "cost_usd"}
        assert set(increments) <= allowed, increments
        sets = ", ".join(f"{name} = {name} + :{name}" for name in increments)
        with transaction(self._conn) as cur:
            cur.execute(
                f"UPDATE conversations SET {sets}, last_at = :now WHERE id = :id",
                {**increments, "now": time.time(), "id": conversation_id},
            )

    def set_model(self, conversation_id: str, model: str) -> None:
        with transaction(self._conn) as cur:
            cur.execute("UPDATE conversations SET model = ? WHERE id = ?", (model, conversation_id))

    def close_conversation(self, conversation_id: str) -> None:
        with transaction(self._conn) as cur:
            cur.execute(
                "UPDATE conversations SET status = 'closed' WHERE id = ?", (conversation_id,)
            )

    def close_all(self) -> None:
        """Mark every conversation closed (a gateway that was killed left some open)."""
        with transaction(self._conn) as cur:
            cur.execute("UPDATE conversations SET status = 'closed' WHERE status = 'open'")

    def latest_with(self, fingerprint: str) -> str | None:
        row = self._conn.execute(
            "SELECT id FROM conversations WHERE fingerprint = ? ORDER BY last_at DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
        return None if row is None else str(row[0])

    def exists(self, conversation_id: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return row is not None

    def conversations(self, *, limit: int = 20) -> list[ConversationRow]:
        rows = self._conn.execute(
            "SELECT * FROM conversations ORDER BY last_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self._conversation(row) for row in rows]

    def resolve(self, conversation: str) -> ConversationRow:
        """A conversation by its id or a unique prefix of it; a clear error otherwise."""
        text = conversation.strip()
        if not text:
            raise UsageError("no conversation id given", hint="See `llmos gateway sessions`.")
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._conn.execute(
            "SELECT * FROM conversations WHERE id LIKE ? ESCAPE '\\' LIMIT 6", (pattern,)
        ).fetchall()
        exact = [row for row in rows if row["id"] == text]
        if exact:
            rows = exact
        if not rows:
            raise UsageError(
                f"no gateway conversation {text!r}", hint="See `llmos gateway sessions`."
            )
        if len(rows) > 1:
            shown = ", ".join(row["id"] for row in rows[:5])
            raise UsageError(f"{text!r} matches several conversations: {shown}", hint="Give more.")
        return self._conversation(rows[0])

    def _conversation(self, row: sqlite3.Row) -> ConversationRow:
        runs = tuple(self._runs(row["id"]))
        data = dict(row)
        del data["key_id"], data["fingerprint"]
        return ConversationRow(**data, runs=runs)

    def _runs(self, conversation_id: str) -> Iterator[str]:
        for row in self._conn.execute(
            "SELECT run_id FROM conversation_runs WHERE conversation_id = ? ORDER BY started_at",
            (conversation_id,),
        ):
            yield str(row[0])


def gateway_db(state_dir: Path) -> Path:
    return state_dir / "gateway.db"


def read_conversations(db_path: Path, *, limit: int) -> list[ConversationRow]:
    """The latest conversations, for a command that only reads (no database made if none)."""
    if not db_path.exists():
        return []
    with closing(GatewayStore(db_path)) as store:
        return store.conversations(limit=limit)
