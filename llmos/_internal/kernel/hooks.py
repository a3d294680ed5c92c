"""llmos hooks and their registry.

A hook is an async callback on one of the agent's lifecycle events (PreToolUse,
PostToolUse, ...), optionally limited to tools matching a pattern. The registry holds
them in llmos's own terms; `llmos._internal.sdk` turns `HookRegistry.specs()` into the SDK's
`hooks=` matchers. Callbacks receive the CLI's hook input (a dict with `tool_name`,
`tool_input`, `tool_use_id`, `agent_id`, ...) and return the CLI's hook output: `{}`
for "no opinion", or one built with the helpers below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypedDict

from llmos._internal.frozen import frozen

HookEventName = Literal[
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "UserPromptSubmit",
    "Stop",
    "SubagentStart",
    "SubagentStop",
]


class HookInput(TypedDict, total=False):
    """What the CLI sends a hook (its wire format; which keys come depends on the event)."""

    hook_event_name: HookEventName
    session_id: str
    transcript_path: str
    cwd: str
    permission_mode: str
    tool_name: str  # tool events
    tool_input: dict[str, Any]
    tool_use_id: str
    tool_response: Any  # PostToolUse
    error: str  # PostToolUseFailure
    is_interrupt: bool
    prompt: str  # UserPromptSubmit
    stop_hook_active: bool  # Stop, SubagentStop
    agent_id: str  # a subagent's call (and SubagentStart, SubagentStop)
    agent_type: str
    agent_transcript_path: str


class HookSpecificOutput(TypedDict, total=False):
    hookEventName: HookEventName
    permissionDecision: Literal["allow", "deny", "ask"]  # PreToolUse
    permissionDecisionReason: str
    updatedInput: dict[str, Any]
    additionalContext: str  # shown to the model after the event


# What a hook answers the CLI: {} is "no opinion". ("continue" is a Python keyword, hence
# the functional form.)
HookOutput = TypedDict(
    "HookOutput",
    {
        "continue": bool,  # False ends the agent's run, with `stopReason`
        "stopReason": str,
        "suppressOutput": bool,
        "systemMessage": str,
        "decision": Literal["approve", "block"],
        "reason": str,
        "hookSpecificOutput": HookSpecificOutput,
    },
    total=False,
)
HookCallback = Callable[[HookInput], Awaitable[HookOutput]]


@frozen
class HookSpec:
    """One llmos hook: a callback on one of the agent's lifecycle events."""

    event: HookEventName
    name: str
    callback: HookCallback
    matcher: str | None = None  # e.g. "Bash" or "Write|Edit"; None = every tool
    fail_closed: bool = False  # a guard that crashes must block the call, not allow it
    timeout_secs: float = 60.0


class HookRegistry:
    def __init__(self) -> None:
        self._specs: list[HookSpec] = []

    def add(
        self,
        event: HookEventName,
        callback: HookCallback,
        *,
        name: str,
        matcher: str | None = None,
        fail_closed: bool = False,
        timeout_secs: float = 60.0,
    ) -> None:
        self._specs.append(HookSpec(event, name, callback, matcher, fail_closed, timeout_secs))

    def specs(self) -> list[HookSpec]:
        return list(self._specs)

    def names(self) -> list[str]:
        return [spec.name for spec in self._specs]


def deny(reason: str) -> HookOutput:
    """PreToolUse output that stops the call; the model receives `reason` as the tool error."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }


def add_context(event: HookEventName, text: str) -> HookOutput:
    """Output that shows `text` to the model as extra context after `event`."""
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}
