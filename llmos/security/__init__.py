"""The security policy: the decision (allow, ask, deny) on every tool call before it runs.

The public API is here; `llmos.security.policy` explains the parts.
"""

# bashlex rebuilds its parser tables at every import (~150 ms); cache them first.
from llmos.security import bashlex_cache

bashlex_cache.install()

from llmos.security.decision import HARD_RULES, RULES, Action, Decision  # noqa: E402
from llmos.security.policy import (  # noqa: E402
    Policy,
    check_command,
    check_tool_call,
    check_tool_name,
    load_policy,
)
from llmos.security.policy_file import default_policy  # noqa: E402

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
