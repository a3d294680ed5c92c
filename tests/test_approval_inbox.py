"""The approvals inbox (llmos/_internal/kernel/approval_inbox.py): questions put by a run, answered
by another process; the first answer wins; expiry; racing the terminal."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from llmos._internal.cli.approve import TerminalApprover
from llmos._internal.errors import UsageError
from llmos._internal.security.approval import (
    ANSWERED_ELSEWHERE,
    ApprovalRequest,
    Approve,
    FirstAnswer,
    Modify,
    Reject,
    Verdict,
)
from llmos._internal.security.approval_inbox import (
    EXPIRED,
    AlreadyAnswered,
    ApprovalInbox,
    InboxApprover,
    UnknownQuestion,
    unattended_inbox,
)
from llmos._internal.security.console_watch import console_lock_path, console_running
from llmos._internal.workspace import Settings

REQUEST = ApprovalRequest("run-1", "Bash", {"command": "npm publish"}, "publishes", "npm-publish")


def test_the_first_answer_wins_and_a_late_one_is_told(tmp_path: Path) -> None:
    with ApprovalInbox(tmp_path) as inbox:
        qid = inbox.ask(REQUEST, source="kernel", expiry_secs=60)
        (pending,) = inbox.pending()
        assert (pending.id, pending.tool, pending.input) == (
            qid,
            "Bash",
            {"command": "npm publish"},
        )
        assert pending.verdict() is None
        done = inbox.answer(qid, "reject", reason="not today", by="alice")
        assert done.status == "rejected" and done.verdict() == Reject("not today")
        with pytest.raises(AlreadyAnswered, match="already rejected by alice"):
            inbox.answer(qid, "approve")
        assert inbox.get(qid).status == "rejected"  # the late answer changed nothing
        assert inbox.pending() == [] and [q.id for q in inbox.recent()] == [qid]


def test_answers_are_checked(tmp_path: Path) -> None:
    with ApprovalInbox(tmp_path) as inbox:
        qid = inbox.ask(REQUEST, source="run", expiry_secs=60)
        with pytest.raises(ValueError, match="approve, modify or reject"):
            inbox.answer(qid, "maybe")
        with pytest.raises(ValueError, match="JSON object"):
            inbox.answer(qid, "modify", new_input="ls")
        with pytest.raises(UnknownQuestion):
            inbox.answer(qid + 1, "approve")
        changed = inbox.answer(qid, "modify", new_input={"command": "npm pack"})
        assert changed.verdict() == Modify({"command": "npm pack"}, by="the web console")


def test_an_unanswered_question_expires_as_a_rejection(tmp_path: Path) -> None:
    with ApprovalInbox(tmp_path) as inbox:
        qid = inbox.ask(REQUEST, source="kernel", expiry_secs=10, now=time.time() - 11)
        assert inbox.pending() == []
        question = inbox.get(qid)
        assert question.status == "expired" and question.verdict() == Reject(EXPIRED)
        with pytest.raises(AlreadyAnswered, match="expired"):
            inbox.answer(qid, "approve")


def _answer_soon(state: Path, decision: str, **kwargs: object) -> threading.Thread:
    """Another 'process' (a thread with its own connection) answers the first question."""

    def work() -> None:
        with ApprovalInbox(state) as inbox:
            for _ in range(200):
                pending = inbox.pending()
                if pending:
                    inbox.answer(pending[0].id, decision, **kwargs)  # type: ignore[arg-type]
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_the_inbox_approver_waits_for_the_answer(tmp_path: Path) -> None:
    approver = InboxApprover(tmp_path, source="run", expiry_secs=30, poll_secs=0.02)
    thread = _answer_soon(tmp_path, "approve", by="the web console")
    verdict = asyncio.run(approver.approve(REQUEST))
    thread.join()
    assert verdict == Approve(by="the web console")


def test_the_inbox_approver_gives_up_when_the_question_expires(tmp_path: Path) -> None:
    approver = InboxApprover(tmp_path, source="run", expiry_secs=0.1, poll_secs=0.02)
    assert asyncio.run(approver.approve(REQUEST)) == Reject(EXPIRED)
    with ApprovalInbox(tmp_path) as inbox:
        assert inbox.recent()[0].status == "expired"


class Forever:
    """An approver that never answers (a terminal nobody types in), noting how it ended."""

    def __init__(self) -> None:
        self.cancelled_with: tuple[object, ...] | None = None

    async def approve(self, request: ApprovalRequest) -> Verdict:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            self.cancelled_with = exc.args
            raise
        return Approve()


def test_the_inbox_and_a_terminal_race_and_the_first_answer_wins(tmp_path: Path) -> None:
    terminal = Forever()
    inbox = InboxApprover(tmp_path, source="run", expiry_secs=30, poll_secs=0.02)
    thread = _answer_soon(tmp_path, "reject", reason="use npm pack")
    verdict = asyncio.run(FirstAnswer(terminal, inbox).approve(REQUEST))
    thread.join()
    assert verdict == Reject("use npm pack")
    assert terminal.cancelled_with == (ANSWERED_ELSEWHERE,)


def test_when_the_terminal_answers_first_the_question_is_withdrawn(tmp_path: Path) -> None:
    class Quick:
        async def approve(self, request: ApprovalRequest) -> Verdict:
            await asyncio.sleep(0.1)
            return Approve()

    inbox = InboxApprover(tmp_path, source="run", expiry_secs=30, poll_secs=0.02)
    assert asyncio.run(FirstAnswer(Quick(), inbox).approve(REQUEST)) == Approve()
    with ApprovalInbox(tmp_path) as store:
        (question,) = store.recent()
        assert question.status == "withdrawn" and store.pending() == []
        with pytest.raises(AlreadyAnswered, match="withdrawn"):
            store.answer(question.id, "approve")


def test_the_terminal_says_when_the_console_answered_first(tmp_path: Path) -> None:
    typed = threading.Event()

    def read(prompt: str, text: str = "") -> str:
        typed.wait(10)  # nobody types until the end of the test
        return "a"

    console = Console(record=True, width=120)
    terminal = TerminalApprover(console, read=read)
    inbox = InboxApprover(tmp_path, source="run", expiry_secs=30, poll_secs=0.02)
    thread = _answer_soon(tmp_path, "approve", by="the web console")
    try:
        verdict = asyncio.run(FirstAnswer(terminal, inbox).approve(REQUEST))
    finally:
        typed.set()
    thread.join()
    assert verdict == Approve(by="the web console")
    assert "answered in the web console" in console.export_text()


def test_a_console_is_seen_running_only_while_it_holds_its_lock(tmp_path: Path) -> None:
    import fcntl

    assert not console_running(tmp_path)
    assert unattended_inbox(tmp_path, "auto", 60, source="kernel") is None
    assert isinstance(unattended_inbox(tmp_path, "console", 60, source="kernel"), InboxApprover)
    with console_lock_path(tmp_path).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        assert console_running(tmp_path)
        assert isinstance(unattended_inbox(tmp_path, "auto", 60, source="kernel"), InboxApprover)
        assert unattended_inbox(tmp_path, "none", 60, source="kernel") is None
    assert not console_running(tmp_path)  # the lock went with the console


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"approvals": "sometimes"}, "is not one of auto, console, none"),
        ({"approval_expiry_secs": 0}, "approval_expiry_secs must be a number >= 1"),
    ],
)
def test_the_approval_settings_are_checked(data: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Settings.from_mapping(data, source=Path("config.yaml"))
    assert Settings.from_mapping({"approvals": False}, source=Path("c")).approvals == "none"


def test_a_gateway_asks_the_inbox_only_while_a_console_runs(tmp_path: Path) -> None:
    import fcntl

    from llmos._internal.gateway.approvers import NOBODY, NobodyApprover
    from llmos._internal.security.approval_inbox import InboxWhenWatched

    approver = InboxWhenWatched(tmp_path, "auto", 30, NobodyApprover(), source="gateway")
    assert asyncio.run(approver.approve(REQUEST)) == Reject(NOBODY)  # no console: refused
    with console_lock_path(tmp_path).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        thread = _answer_soon(tmp_path, "approve", by="the web console")
        assert asyncio.run(approver.approve(REQUEST)) == Approve(by="the web console")
        thread.join()
    with ApprovalInbox(tmp_path) as inbox:
        assert inbox.recent()[0].source == "gateway"


def test_a_damaged_inbox_is_set_aside_and_a_new_one_started(tmp_path: Path) -> None:
    (tmp_path / "approvals.db").write_bytes(b"not a database at all" * 100)
    with ApprovalInbox(tmp_path) as inbox:
        assert inbox.pending() == []
        assert inbox.ask(REQUEST, source="run", expiry_secs=60) == 1
    assert [p.name for p in tmp_path.glob("approvals.db.damaged-*")]
