"""Approvals in the terminal, for `llmos run`: the `Approver` (llmos/_internal/security/approval.py)
that shows a call the security policy asks about, and waits for approve, modify or reject.

The run waits meanwhile (the security hook awaits the answer). One question at a time, however
many calls wait. Modify edits the command of a Bash call, the path of a file or search tool,
or else the whole input as JSON; the changed call is checked by the policy again. An empty
answer to modify keeps the call as it was; end of input (Ctrl-D) rejects. `--yes` approves
every question without asking; with no terminal (or `--json`) there is nobody to ask, and the
policy's questions are refused. asyncio is imported only when a question is asked: a replay
in `llmos run` runs without an event loop (llmos/_internal/modes/dispatcher.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from rich.console import Console

from llmos._internal.security.approval import (
    ANSWERED_ELSEWHERE,
    EDITED_FIELD,
    ApprovalRequest,
    Approve,
    Modify,
    Reject,
    Verdict,
)
from llmos._internal.text import escape

if TYPE_CHECKING:
    import asyncio

QUESTION = "approve, modify or reject? [a/m/r] "
_ANSWERS = {"a": "approve", "approve": "approve", "y": "approve", "yes": "approve"}
_ANSWERS |= {"m": "modify", "modify": "modify", "e": "modify", "edit": "modify"}
_ANSWERS |= {"r": "reject", "reject": "reject", "n": "reject", "no": "reject"}

Reader = Callable[[str, str], str]  # (prompt, text to edit) -> the line typed; EOFError at end


class TerminalApprover:
    def __init__(self, console: Console, read: Reader | None = None) -> None:
        self.console = console
        self._read = read or read_line
        self._lock: asyncio.Lock | None = None  # made in the loop that first asks
        # A line being read when the question was answered elsewhere: the thread still waits
        # on the terminal, and the next question takes its line rather than start another.
        self._reading: Future[str] | None = None

    async def approve(self, request: ApprovalRequest) -> Verdict:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                return await self._ask(request)
            except EOFError:
                self.console.print("  [red]rejected[/] (end of input)")
                return Reject("the user rejected this call")
            except asyncio.CancelledError as exc:
                if ANSWERED_ELSEWHERE in exc.args:
                    self.console.print("\n  answered in the web console")
                raise

    async def _ask(self, request: ApprovalRequest) -> Verdict:
        from llmos._internal.cli.render import print_approval_request

        print_approval_request(self.console, request)
        while True:
            answer = (await self._line(QUESTION)).strip().lower()
            if answer in _ANSWERS:
                break
            self.console.print("  answer a (approve), m (modify) or r (reject)")
        choice = _ANSWERS[answer]
        if choice == "approve":
            self.console.print("  [green]approved[/]")
            return Approve()
        if choice == "reject":
            why = (await self._line("reason, for the agent (optional): ")).strip()
            self.console.print("  [red]rejected[/]")
            return Reject(why or "the user rejected this call")
        new_input = await self._edit(request)
        if new_input == request.input:
            self.console.print("  [green]approved[/] (unchanged)")
            return Approve()
        self.console.print("  [green]approved with changes[/] (checked by the policy again)")
        return Modify(new_input)

    async def _edit(self, request: ApprovalRequest) -> dict[str, Any]:
        key = EDITED_FIELD.get(request.tool)
        current = request.input.get(key) if key else None
        if key and isinstance(current, str):
            edited = (await self._line(f"{key}: ", current)).strip()
            return {**request.input, key: edited} if edited else dict(request.input)
        shown = json.dumps(request.input, ensure_ascii=False)
        while True:
            edited = (await self._line("input (JSON): ", shown)).strip()
            if not edited:
                return dict(request.input)
            try:
                value = json.loads(edited)
            except json.JSONDecodeError as exc:
                self.console.print(f"  not JSON: {escape(str(exc))}")
                continue
            if isinstance(value, dict):
                return value
            self.console.print("  the input must be a JSON object")

    async def _line(self, prompt: str, text: str = "") -> str:
        """One line from the terminal, read in a daemon thread so that the event loop goes on
        (and an interrupted run never waits for the thread)."""
        import asyncio

        reading = self._reading
        if reading is None or reading.done():
            reading = self._reading = Future()

            def work(line: Future[str]) -> None:
                try:
                    line.set_result(self._read(prompt, text) or "")
                except BaseException as exc:  # EOFError, KeyboardInterrupt: to the loop
                    line.set_exception(exc)

            threading.Thread(
                target=work, args=(reading,), name="llmos-approval", daemon=True
            ).start()
        # shield: cancelling this wait leaves the line to the next question.
        return await asyncio.shield(asyncio.wrap_future(reading))


def read_line(prompt: str, text: str = "") -> str:
    """`input(prompt)` with `text` already typed, ready to edit (readline, when present)."""
    try:
        import readline
    except ImportError:  # no line editing: an empty answer keeps `text`
        return input(prompt + (f"[{text}] " if text else "")) or text
    readline.set_startup_hook(lambda: readline.insert_text(text))
    try:
        return input(prompt)
    finally:
        readline.set_startup_hook()
