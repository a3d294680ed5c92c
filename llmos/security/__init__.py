"""Security policies that decide, before a tool call runs, whether it is allowed."""

# bashlex rebuilds its parser tables at every import (~150 ms); cache them first.
from llmos.security import bashlex_cache

bashlex_cache.install()

from llmos.security.policy import RULES, Action, Decision, check_command, check_tool_call  # noqa: E402

__all__ = ["RULES", "Action", "Decision", "check_command", "check_tool_call"]
