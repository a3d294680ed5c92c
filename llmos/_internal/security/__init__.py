"""The security policy: the decision (allow, ask, deny) on every tool call before it runs.

The public API is here; `llmos._internal.security.policy` explains the parts. Its names are loaded
on first use: importing a submodule (the sandbox, the trust store) must not load the shell
parser, which only a check of a command needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.security.decision import HARD_RULES, RULES, Action, Decision
    from llmos._internal.security.policy import (
        Policy,
        check_command,
        check_tool_call,
        check_tool_name,
        load_policy,
    )
    from llmos._internal.security.policy_file import default_policy

_HOMES = {
    "HARD_RULES": "decision",
    "RULES": "decision",
    "Action": "decision",
    "Decision": "decision",
    "Policy": "policy",
    "check_command": "policy",
    "check_tool_call": "policy",
    "check_tool_name": "policy",
    "load_policy": "policy",
    "default_policy": "policy_file",
}

__all__ = [
    "HARD_RULES",
    "RULES",
    "Action",
    "Decision",
    "Policy",
    "check_command",
    "check_tool_call",
    "check_tool_name",
    "default_policy",
    "load_policy",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
