"""Who answers the gateway's questions (the calls the policy asks about). Any `Approver`
(llmos/_internal/security/approval.py) will do; the gateway wraps it in a time limit.

- the terminal the gateway runs in (`llmos._internal.cli.approve.TerminalApprover`);
- the web console's inbox (`--approver console`, and with no terminal while a console runs:
  `llmos._internal.security.approval_inbox`);
- `QueueApprover`: questions wait in a queue that other programs read and answer, through
  the gateway's HTTP routes `GET /llmos/approvals` and `POST /llmos/approvals/{id}` (see
  llmos/_internal/gateway/app.py);
- `YesApprover` (`--approver yes`), or `NobodyApprover` (`--approver none`: nobody is there,
  so the call is rejected and the model told so).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from llmos._internal.security.approval import (
    ApprovalRequest,
    Approve,
    Approver,
    Modify,
    Reject,
    Verdict,
)

NOBODY = (
    "this call needs a human's approval and nobody is there to give it (the llmos gateway "
    "runs without an approver)"
)


class NobodyApprover:
    async def approve(self, request: ApprovalRequest) -> Verdict:
        return Reject(NOBODY)


class TimedApprover:
    """`inner`, with no answer within `timeout` seconds counting as a rejection."""

    def __init__(self, inner: Approver, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout

    async def approve(self, request: ApprovalRequest) -> Verdict:
        try:
            return await asyncio.wait_for(self.inner.approve(request), self.timeout)
        except TimeoutError:
            return Reject(f"nobody answered within {self.timeout:g} s, so the call is rejected")


@dataclass
class Pending:
    """A question about a tool call, waiting in the queue for an answer over HTTP."""

    id: int
    request: ApprovalRequest
    asked_at: float
    answer: asyncio.Future[Verdict] = field(repr=False)
    conversation: str = ""

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.id,
            "run_id": r.run_id,
            "conversation": self.conversation,
            "tool": r.tool,
            "input": r.input,
            "rule": r.rule,
            "reason": r.reason,
            "asked_at": self.asked_at,
        }


class QueueApprover:
    """Questions wait here until `answer` is called (the HTTP routes call it)."""

    def __init__(self) -> None:
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self.conversation_of: dict[str, str] = {}  # run id -> conversation id, for display

    async def approve(self, request: ApprovalRequest) -> Verdict:
        loop = asyncio.get_running_loop()
        pending = Pending(
            next(self._ids),
            request,
            time.time(),
            loop.create_future(),
            self.conversation_of.get(request.run_id, ""),
        )
        self._pending[pending.id] = pending
        try:
            return await pending.answer
        finally:  # answered, timed out or withdrawn (the client went away)
            self._pending.pop(pending.id, None)

    def pending(self) -> list[Pending]:
        return sorted(self._pending.values(), key=lambda p: p.id)

    def answer(
        self, question: int, decision: str, *, new_input: Any = None, reason: str = ""
    ) -> None:
        """Answer a question: `approve`, `modify` (with `new_input`, a JSON object) or
        `reject` (with a reason for the model). KeyError if no such question waits;
        ValueError for a bad answer."""
        pending = self._pending[question]
        verdict: Verdict
        if decision == "approve":
            verdict = Approve(by="the web console")
        elif decision == "modify":
            if not isinstance(new_input, dict):
                raise ValueError("modify needs `input`, the changed call's input (an object)")
            verdict = Modify(new_input)
        elif decision == "reject":
            verdict = Reject(reason or "the user rejected this call")
        else:
            raise ValueError("decision must be approve, modify or reject")
        if not pending.answer.done():
            pending.answer.set_result(verdict)
