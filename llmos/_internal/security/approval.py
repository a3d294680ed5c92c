"""Asking a human about one tool call: the approver interface.

Some calls the security policy will not decide alone: its decision is "ask" (a command it
cannot analyse, a soft rule or a policy file set to ask). When a human is present (the
interactive REPL, or `llmos run` in a terminal, pass an `Approver` down through `run_goal`),
the security hook asks them and the call is approved as it is, approved with an input they
changed (which passes the policy again), or rejected. `YesApprover` approves every such call
without asking (`llmos run --yes`). With no approver (no terminal, `--json`, the kernel) such a
call is denied, and the model told why. A call the policy denies is never put to anyone.

An approver is anything with `async approve(request) -> Approve | Modify | Reject`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import field
from typing import Any, Protocol

from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import ToolDecision
from llmos._internal.kernel.hooks import HookOutput, deny
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.security.policy import Decision

log = logging.getLogger(__name__)


@frozen
class ApprovalRequest:
    """A tool call the policy asks a human about, and why."""

    run_id: str
    tool: str
    input: dict[str, Any]
    reason: str  # why the policy asks (its sentence for the call)
    rule: str  # the policy's rule id
    agent: str | None = None  # the subagent making the call, if one is


@frozen
class Approve:
    """Run the call as it is. `by` says who approved (the audit trail records it)."""

    by: str = "the user"


@frozen
class Modify:
    """Run the call with this input instead (it passes the policy again first). `by` says
    who changed it."""

    new_input: dict[str, Any] = field(default_factory=dict)
    by: str = "the user"


# The field of a call's input a human changes to modify it (a Bash call's command, a file
# tool's path), in the terminal as in the web console; any other tool's input is changed
# whole, as JSON.
EDITED_FIELD = {"Bash": "command", "Write": "file_path", "Edit": "file_path"}
EDITED_FIELD |= {"MultiEdit": "file_path", "NotebookEdit": "notebook_path", "Read": "file_path"}
EDITED_FIELD |= {"Grep": "path", "Glob": "path", "LS": "path"}


@frozen
class Reject:
    """Do not run the call; `reason` is passed on to the model."""

    reason: str = "the user rejected this call"


Verdict = Approve | Modify | Reject


class Approver(Protocol):
    async def approve(self, request: ApprovalRequest) -> Verdict: ...


class YesApprover:
    """Approves every call the policy asks about, without asking: `llmos run --yes`. It is
    never given a call the policy denies, nor a trace to trust (only a human approves an
    imported trace: `asks_a_human`, which other approvers lack, meaning they do)."""

    asks_a_human = False

    async def approve(self, request: ApprovalRequest) -> Verdict:
        return Approve(by="--yes")


ANSWERED_ELSEWHERE = "answered elsewhere"


class FirstAnswer:
    """Several approvers asked at once (the terminal and the console's inbox): the first
    answer wins and the others are cancelled with `ANSWERED_ELSEWHERE` as the message, so a
    terminal can say the question was answered elsewhere (and an inbox withdraws it)."""

    def __init__(self, *approvers: Approver) -> None:
        self.approvers = approvers

    @property
    def asks_a_human(self) -> bool:
        return any(getattr(a, "asks_a_human", True) for a in self.approvers)

    async def approve(self, request: ApprovalRequest) -> Verdict:
        import asyncio

        tasks = [asyncio.ensure_future(a.approve(request)) for a in self.approvers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        winner = next(t for t in tasks if t in done)
        for task in tasks:
            if task is not winner:
                task.cancel(ANSWERED_ELSEWHERE)
        await asyncio.gather(*tasks, return_exceptions=True)
        return winner.result()


def needs_human(action: str, rule: str) -> bool:
    """Whether a policy decision is one to put to a human, when one is present: only "ask".
    What the policy denies stays denied, whoever is there."""
    return action == "ask"


@frozen
class Resolution:
    """What came of putting one call to the approver."""

    allowed: bool
    tool_input: dict[str, Any]  # what runs: the input the human changed it to, if they did
    rule: str
    reason: str  # "approved by the user", the rejection, or why the changed call is denied
    approved_by: str | None = None  # "the user", "--yes"; None when not approved
    changed: bool = False


async def resolve(
    approver: Approver,
    request: ApprovalRequest,
    recheck: Callable[[str, dict[str, Any]], Decision],
) -> Resolution:
    """Ask `approver` about `request`. A changed call is checked again with `recheck`: what
    the policy denies stays denied; what it would only ask about, the human has just answered."""
    try:
        verdict = await approver.approve(request)
    except Exception as exc:  # a failing prompt must not let the call through
        log.warning("the approver failed on a %s call", request.tool, exc_info=True)
        verdict = Reject(f"the approval prompt failed ({exc})")
    match verdict:
        case Approve(by=by):
            return Resolution(True, request.input, request.rule, f"approved by {by}", by)
        case Modify(new_input=new_input, by=by):
            again = recheck(request.tool, new_input)
            if again.allowed or needs_human(again.action, again.rule):
                reason = f"approved by {by} with a changed input"
                return Resolution(True, new_input, request.rule, reason, by, True)
            reason = f"{by}'s changed call is denied: {again.reason}"
            return Resolution(False, new_input, again.rule, reason, None, True)
        case Reject(reason=reason):
            return Resolution(False, request.input, request.rule, reason)
    raise TypeError(f"an approver returned {verdict!r}, not Approve, Modify or Reject")


def publish_resolution(ctx: RunContext, tool: str, tool_use_id: str, res: Resolution) -> None:
    if not res.allowed:
        ctx.count_refusal(tool)
    ctx.bus.publish(
        ToolDecision(
            run_id=ctx.run_id,
            tool_use_id=tool_use_id,
            tool=tool,
            allowed=res.allowed,
            guard="approval",
            rule=res.rule,
            reason=res.reason,
            decision="ask",
            approved_by=res.approved_by,
            updated_input=res.tool_input if res.changed and res.allowed else None,
        )
    )


def resolution_output(res: Resolution) -> HookOutput:
    """The PreToolUse hook's output for what the approver said."""
    if res.allowed:
        return allow_with(res.tool_input) if res.changed else {}
    if res.changed:
        return deny(f"llmos security policy ({res.rule}): {res.reason}")
    return deny(
        f"llmos: {res.reason}. Do not try this call again; find another way, or ask the "
        "user in your answer."
    )


def allow_with(new_input: dict[str, Any]) -> HookOutput:
    """PreToolUse output that runs the call with `new_input` instead of the model's."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": "approved by the user with a changed input",
            "updatedInput": new_input,
        }
    }
