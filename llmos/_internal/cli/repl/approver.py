"""Approvals inline: the REPL's `Approver` (llmos/_internal/security/approval.py).

When the security policy will not decide a call alone, the run waits while the REPL shows
the call and why, and asks: approve, modify (edit the command, or the input as JSON) or
reject (with a reason the model is given). Ctrl-C at the question rejects the call and
interrupts the goal; Ctrl-D rejects it. One question at a time, however many calls wait.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.validation import ValidationError, Validator
from rich.console import Console

from llmos._internal.cli.repl.keys import InterruptKeys
from llmos._internal.security.approval import (
    ANSWERED_ELSEWHERE,
    ApprovalRequest,
    Approve,
    Modify,
    Reject,
    Verdict,
)

CHOICES = {"a": "approve", "approve": "approve", "m": "modify", "modify": "modify"}
CHOICES |= {"r": "reject", "reject": "reject", "y": "approve", "n": "reject"}
QUESTION = "approve, modify or reject? [a/m/r] "


class _OneOf(Validator):
    def validate(self, document: Any) -> None:
        if document.text.strip().lower() not in CHOICES:
            raise ValidationError(message="answer a (approve), m (modify) or r (reject)")


class _JsonObject(Validator):
    def validate(self, document: Any) -> None:
        try:
            value = json.loads(document.text)
        except json.JSONDecodeError as exc:
            raise ValidationError(message=f"not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValidationError(message="the input must be a JSON object")


class InlineApprover:
    def __init__(
        self,
        console: Console,
        keys: Callable[[], InterruptKeys | None],
        interrupt: Callable[[], None],
    ) -> None:
        self.console = console
        self._keys = keys  # the goal's key watcher, paused while asking
        self._interrupt = interrupt
        self._lock = asyncio.Lock()

    async def approve(self, request: ApprovalRequest) -> Verdict:
        async with self._lock:
            keys = self._keys()
            if keys is not None:
                keys.pause()
            try:
                with patch_stdout(raw=True):  # the run's output goes above the question
                    return await self._ask(request)
            except KeyboardInterrupt:
                self._interrupt()
                return Reject("the user interrupted the goal")
            except asyncio.CancelledError as exc:
                if ANSWERED_ELSEWHERE in exc.args:
                    self.console.print("  answered in the web console")
                raise
            except EOFError:
                return Reject("the user rejected this call")
            finally:
                if keys is not None:
                    keys.resume()

    async def _ask(self, request: ApprovalRequest) -> Verdict:
        from llmos._internal.cli.render import print_approval_request

        print_approval_request(self.console, request)
        answer = await _ask(QUESTION, validator=_OneOf())
        choice = CHOICES[answer.strip().lower()]
        if choice == "approve":
            self.console.print("  [green]approved[/]")
            return Approve()
        if choice == "reject":
            why = await _ask("reason, for the agent (optional): ")
            self.console.print("  [red]rejected[/]")
            return Reject(why.strip() or "the user rejected this call")
        new_input = await self._edit(request)
        if new_input == request.input:
            self.console.print("  [green]approved[/] (unchanged)")
            return Approve()
        self.console.print("  [green]approved with changes[/]")
        return Modify(new_input)

    async def _edit(self, request: ApprovalRequest) -> dict[str, Any]:
        command = request.input.get("command")
        if request.tool == "Bash" and isinstance(command, str):
            edited = await _ask("command: ", default=command)
            return {**request.input, "command": edited}
        shown = json.dumps(request.input, ensure_ascii=False)
        edited = await _ask("input (JSON): ", default=shown, validator=_JsonObject())
        value: dict[str, Any] = json.loads(edited)
        return value


async def _ask(question: str, *, default: str = "", validator: Validator | None = None) -> str:
    """One question (a session of its own: a PromptSession keeps the options of its last
    prompt, validator included)."""
    session: PromptSession[str] = PromptSession()
    return await session.prompt_async(
        question, default=default, validator=validator, handle_sigint=False
    )
