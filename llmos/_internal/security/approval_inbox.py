"""The approvals inbox: questions from any run, answered from another process (the web console).

A run that has no human at its terminal (a scheduled run in the kernel, a gateway
conversation, `llmos run --approve-via console`) puts each call the policy asks about into
`state/approvals.db` and waits for the row to be answered. The console lists the pending
rows and answers one by updating it atomically (`UPDATE ... WHERE status='pending'`), so
the first answer wins and a late one is told what happened. A question nobody answers
within `approval_expiry_secs` (config.yaml) expires, which the run takes as a rejection;
one whose run stopped waiting (the run ended, or the terminal answered first) is withdrawn.

Not journalled: a question lives for minutes and its outcome is in the run's session log
and the audit trail, which are.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from llmos._internal.database import Connection, move_aside, open_database, transaction
from llmos._internal.errors import DamagedDatabaseError, LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.security.approval import ApprovalRequest, Approve, Modify, Reject, Verdict
from llmos._internal.security.console_watch import inbox_answered

log = logging.getLogger(__name__)

POLL_SECS = 0.2
KEEP_ANSWERED = 1000
EXPIRED = "no answer in time"
WITHDRAWN = "the run stopped waiting: it was answered elsewhere (a terminal) or it ended"
DECISIONS = ("approve", "modify", "reject")
# A row's status: pending, then one of the answers, expired, or withdrawn.
STATUSES = ("pending", "approved", "modified", "rejected", "expired", "withdrawn")
_STATUS_OF = {"approve": "approved", "modify": "modified", "reject": "rejected"}

_MIGRATIONS = (
    """
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        pid INTEGER,
        tool TEXT NOT NULL,
        input TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        agent TEXT,
        asked_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        answer_input TEXT,
        answer_reason TEXT,
        answered_by TEXT,
        answered_at REAL
    );
    CREATE INDEX approvals_status ON approvals(status, id);
    """,
)


def inbox_path(state_dir: Path) -> Path:
    return state_dir / "approvals.db"


class AlreadyAnswered(LlmosError):
    """The question was answered (or expired, or withdrawn) before this answer came."""

    def __init__(self, question: Question) -> None:
        by = f" by {question.answered_by}" if question.answered_by else ""
        super().__init__(
            f"approval {question.id} was already {question.status}{by}",
            hint="Nothing was changed: the first answer stands.",
        )
        self.question = question


class UnknownQuestion(LlmosError):
    def __init__(self, question_id: int) -> None:
        super().__init__(f"no approval request {question_id}")


@frozen
class Question:
    """One row of the inbox."""

    id: int
    run_id: str
    source: str  # who asks: "run" (llmos run), "kernel", "gateway", "repl"
    pid: int | None
    tool: str
    input: dict[str, Any]
    rule: str
    reason: str
    agent: str | None
    asked_at: float
    expires_at: float
    status: str
    answer_input: dict[str, Any] | None
    answer_reason: str | None
    answered_by: str | None
    answered_at: float | None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def verdict(self) -> Verdict | None:
        """What the run does with this answer; None while it is pending."""
        match self.status:
            case "approved":
                return Approve(by=self.answered_by or "the web console")
            case "modified":
                return Modify(self.answer_input or {}, by=self.answered_by or "the web console")
            case "rejected":
                return Reject(self.answer_reason or "the user rejected this call")
            case "expired":
                return Reject(EXPIRED)
            case "withdrawn":
                return Reject(WITHDRAWN)
        return None


def _question(row: Any) -> Question:
    data = dict(row)
    data["input"] = json.loads(data["input"])
    if data["answer_input"] is not None:
        data["answer_input"] = json.loads(data["answer_input"])
    return Question(**data)


class ApprovalInbox:
    """`state/approvals.db`: ask, read and answer questions. One per process and thread."""

    def __init__(self, state_dir: Path) -> None:
        self.path = inbox_path(state_dir)
        try:
            self._conn: Connection = open_database(self.path, _MIGRATIONS)
        except DamagedDatabaseError:
            # Questions live minutes and their outcomes are in the session logs and the
            # audit trail: a damaged inbox is set aside and a new one started.
            moved = move_aside(self.path)
            log.warning("the approvals inbox %s was damaged: moved aside to %s", self.path, moved)
            self._conn = open_database(self.path, _MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ApprovalInbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(
        self, request: ApprovalRequest, *, source: str, expiry_secs: float, now: float | None = None
    ) -> int:
        """Put `request` in the inbox; returns its id."""
        at = time.time() if now is None else now
        with transaction(self._conn) as cur:
            cur.execute(
                "INSERT INTO approvals (run_id, source, pid, tool, input, rule, reason, agent,"
                " asked_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    request.run_id,
                    source,
                    os.getpid(),
                    request.tool,
                    json.dumps(request.input, ensure_ascii=False),
                    request.rule,
                    request.reason,
                    request.agent,
                    at,
                    at + expiry_secs,
                ),
            )
            question_id = int(cur.lastrowid or 0)
            # Answered questions are kept for the console's history, the latest ones only.
            cur.execute(
                "DELETE FROM approvals WHERE status!='pending' AND id<=?",
                (question_id - KEEP_ANSWERED,),
            )
            return question_id

    def get(self, question_id: int) -> Question:
        row = self._conn.execute("SELECT * FROM approvals WHERE id=?", (question_id,)).fetchone()
        if row is None:
            raise UnknownQuestion(question_id)
        return _question(row)

    def pending(self, *, now: float | None = None) -> list[Question]:
        """The questions waiting for an answer, oldest first (expired ones are marked so)."""
        self.expire(now=now)
        rows = self._conn.execute(
            "SELECT * FROM approvals WHERE status='pending' ORDER BY id"
        ).fetchall()
        return [_question(row) for row in rows]

    def recent(self, *, limit: int = 20) -> list[Question]:
        """The latest questions that are no longer pending, newest first."""
        rows = self._conn.execute(
            "SELECT * FROM approvals WHERE status!='pending' ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_question(row) for row in rows]

    def of_run(self, run_id: str) -> list[Question]:
        rows = self._conn.execute(
            "SELECT * FROM approvals WHERE run_id=? ORDER BY id", (run_id,)
        ).fetchall()
        return [_question(row) for row in rows]

    def expire(self, *, now: float | None = None) -> int:
        at = time.time() if now is None else now
        with transaction(self._conn) as cur:
            cur.execute(
                "UPDATE approvals SET status='expired', answered_at=?, answer_reason=?"
                " WHERE status='pending' AND expires_at<=?",
                (at, EXPIRED, at),
            )
            return cur.rowcount

    def answer(
        self,
        question_id: int,
        decision: str,
        *,
        new_input: Any = None,
        reason: str = "",
        by: str = "the web console",
    ) -> Question:
        """Answer a pending question: approve, modify (with `new_input`, a JSON object) or
        reject (with a reason for the model). The first answer wins: a question no longer
        pending raises AlreadyAnswered; ValueError for a bad answer."""
        if decision not in DECISIONS:
            raise ValueError("the decision must be approve, modify or reject")
        if decision == "modify" and not isinstance(new_input, dict):
            raise ValueError("modify needs the changed call's input (a JSON object)")
        self.get(question_id)  # UnknownQuestion before anything else
        self.expire()
        changed = json.dumps(new_input, ensure_ascii=False) if decision == "modify" else None
        with transaction(self._conn) as cur:
            cur.execute(
                "UPDATE approvals SET status=?, answer_input=?, answer_reason=?, answered_by=?,"
                " answered_at=? WHERE id=? AND status='pending'",
                (
                    _STATUS_OF[decision],
                    changed,
                    (reason.strip() or "the user rejected this call")
                    if decision == "reject"
                    else None,
                    by,
                    time.time(),
                    question_id,
                ),
            )
            won = cur.rowcount == 1
        question = self.get(question_id)
        if not won:
            raise AlreadyAnswered(question)
        return question

    def withdraw(self, question_id: int) -> bool:
        """The run stopped waiting; False if it had been answered meanwhile."""
        with transaction(self._conn) as cur:
            cur.execute(
                "UPDATE approvals SET status='withdrawn', answered_at=?, answer_reason=?"
                " WHERE id=? AND status='pending'",
                (time.time(), WITHDRAWN, question_id),
            )
            return cur.rowcount == 1


class InboxApprover:
    """An `Approver` that puts the question in the inbox and waits for its answer, polling
    the row every `poll_secs`. Cancelled (the run ended, a terminal answered first), it
    withdraws the question."""

    def __init__(
        self,
        state_dir: Path,
        *,
        source: str,
        expiry_secs: float,
        poll_secs: float = POLL_SECS,
    ) -> None:
        self.state_dir = state_dir
        self.source = source
        self.expiry_secs = expiry_secs
        self.poll_secs = poll_secs

    async def approve(self, request: ApprovalRequest) -> Verdict:
        import asyncio

        inbox = ApprovalInbox(self.state_dir)
        try:
            question_id = inbox.ask(request, source=self.source, expiry_secs=self.expiry_secs)
            log.info("approval %d waits in the inbox (%s call)", question_id, request.tool)
            try:
                while True:
                    await asyncio.sleep(self.poll_secs)
                    question = inbox.get(question_id)
                    if question.pending and time.time() >= question.expires_at:
                        inbox.expire()
                        question = inbox.get(question_id)
                    verdict = question.verdict()
                    if verdict is not None:
                        return verdict
            except asyncio.CancelledError:
                inbox.withdraw(question_id)
                raise
        finally:
            inbox.close()


def unattended_inbox(
    state_dir: Path, approvals: str, expiry_secs: float, *, source: str
) -> InboxApprover | None:
    """The approver of a run with nobody at its terminal: the inbox if it is answered there
    (`inbox_answered`); else None (the policy's questions are refused)."""
    if inbox_answered(state_dir, approvals):
        return InboxApprover(state_dir, source=source, expiry_secs=expiry_secs)
    return None


class InboxWhenWatched:
    """For a long-lived process (the gateway): each question goes to the inbox if, at that
    moment, the `approvals` setting says so, and to `otherwise` if not."""

    def __init__(
        self, state_dir: Path, approvals: str, expiry_secs: float, otherwise: Any, *, source: str
    ) -> None:
        self.state_dir, self.approvals, self.expiry_secs = state_dir, approvals, expiry_secs
        self.otherwise, self.source = otherwise, source

    async def approve(self, request: ApprovalRequest) -> Verdict:
        inbox = unattended_inbox(
            self.state_dir, self.approvals, self.expiry_secs, source=self.source
        )
        approver = inbox if inbox is not None else self.otherwise
        verdict: Verdict = await approver.approve(request)
        return verdict
