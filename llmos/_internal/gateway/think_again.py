"""Sending a rejected turn back to the model ("think again"), and ending a turn the model
could not mend.

When a tool call of the model's turn is rejected, the client never sees the call. The
gateway asks the upstream again with the client's request plus two messages: the model's
turn as it was (text, thinking, tool calls) and a user turn with one `tool_result` per call
of it: for the rejected ones, what was rejected and why and "think again"; for the others
(allowed, but part of a turn that goes back), that they did not run. A turn is sent back as
a whole because the client can only run what it receives, and the model must see every
call of its turn answered.
"""

from __future__ import annotations

import copy
from typing import Any

from llmos._internal.frozen import frozen

REJECTED = (
    "llmos gateway: this {tool} call was rejected by the security policy ({rule}): {reason} "
    "Think again: reach the goal another way that the policy allows, or explain in your "
    "answer why you cannot."
)
NOT_RUN = (
    "llmos gateway: not run, because another call in the same turn was rejected. Call it "
    "again if you still need it."
)
GAVE_UP = (
    "[llmos gateway] The model's {tool} call was rejected ({rule}: {reason}) and it found "
    "no other way after {attempts} attempt(s), so this turn ends here."
)
NO_BUDGET = "[llmos gateway] This turn was stopped: {why}"


@frozen
class Rejection:
    """A tool call of the model's turn that the gateway rejected, and why."""

    tool_use_id: str
    tool: str
    rule: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def sent_back(
    body: dict[str, Any], turn: list[dict[str, Any]], rejected: list[Rejection]
) -> dict[str, Any]:
    """The request that sends the model's `turn` back with the rejections answered."""
    by_id = {r.tool_use_id: r for r in rejected}
    results = []
    for block in turn:
        if block.get("type") != "tool_use":
            continue
        rejection = by_id.get(str(block.get("id")))
        text = REJECTED.format(**rejection.to_dict()) if rejection else NOT_RUN
        results.append(
            {
                "type": "tool_result",
                "tool_use_id": block.get("id"),
                "content": text,
                "is_error": True,
            }
        )
    retry = dict(body)
    messages = copy.copy(list(body.get("messages") or []))
    last = _last_turn(messages)
    if last is not None and messages[last].get("role") == "assistant":
        # The client prefilled the answer: the model's turn goes on from it.
        prefill = messages[last]
        messages[last] = {**prefill, "content": _blocks(prefill.get("content")) + turn}
    else:
        messages.append({"role": "assistant", "content": turn})
    messages.append({"role": "user", "content": results})
    retry["messages"] = messages
    return retry


def _last_turn(messages: list[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") != "system":  # Claude Code interleaves system messages
            return i
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def gave_up_text(rejected: list[Rejection], attempts: int) -> str:
    first = rejected[0]
    return GAVE_UP.format(
        tool=first.tool, rule=first.rule, reason=first.reason.rstrip("."), attempts=attempts
    )
