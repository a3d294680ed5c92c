"""The security policy's public API: the decision (allow, ask, deny) on a tool call or a shell
command, before it runs.

Shell commands are analysed by `llmos._internal.security.shell` and every simple command it finds
(however deeply nested or wrapped) is judged by the built-in rules (`commands`, `rules_*`: *where* a
command acts and *what kind* of act it is). File and search tools are judged on their resolved
paths. `engine` weighs those objections against the policy files (`policy_file`: the shipped
default, the workspace's and the project's policy.yaml). What cannot be analysed is asked
about, never silently allowed; a failure of the policy itself is asked about too.

Pure Python and fast: no SDK import, no I/O beyond resolving paths (and reading policy files
in `load_policy`).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from llmos._internal.security.decision import ALLOW, RULES, Action, Decision, ask, deny
from llmos._internal.security.engine import decide_call, decide_command
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.policy_file import Policy, default_policy, load_policy
from llmos._internal.security.run_files import RunFiles
from llmos._internal.security.zones import Zones, zones_for

__all__ = [
    "RULES",
    "Action",
    "Decision",
    "Policy",
    "check_command",
    "check_tool_call",
    "check_tool_name",
    "load_policy",
]

logger = logging.getLogger(__name__)


def zones_of(workdir: Path, home: Path | None, policy: Policy) -> Zones:
    home_path = os.fspath(home if home is not None else Path.home())
    return zones_for(os.fspath(workdir), home_path, policy.guarded, policy.allowed_paths)


def check_tool_call(
    tool_name: str,
    tool_input: Mapping[str, Any],
    *,
    workdir: Path,
    home: Path | None = None,
    policy: Policy | None = None,
    files: RunFiles | None = None,
) -> Decision:
    """Decide on one Claude Code tool call made in `workdir` under `policy` (default: the
    shipped policy alone). `files`: what the run's earlier calls wrote, so that a script
    written before is judged when a call runs it; this call's writes are added to it unless
    it is denied (the run guard keeps one per run)."""
    try:
        policy = policy or default_policy()
        zones = zones_of(workdir, home, policy)
        return decide_call(tool_name, tool_input, zones, policy, files)
    except Exception:  # fail safe; the traceback, not the input, goes to the log
        logger.warning("security policy failed on a %s call", tool_name, exc_info=True)
        return _internal_error()


def check_command(
    command: str,
    *,
    workdir: Path,
    home: Path | None = None,
    policy: Policy | None = None,
    files: RunFiles | None = None,
) -> Decision:
    """Decide on a shell command that bash would run in `workdir`."""
    try:
        policy = policy or default_policy()
        return decide_command(command, zones_of(workdir, home, policy), policy, files)
    except Exception:
        logger.warning("security policy failed on a command", exc_info=True)
        return _internal_error()


def _internal_error() -> Decision:
    return ask(
        "unparseable",
        "The call could not be checked (internal error of the policy). Try a simpler call, "
        "or have a human approve it.",
    )


# An llmos plugin tool, served in-process by llmos itself (llmos/plugins/).
_SNAKE = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
_PLUGIN_TOOL = LazyRegex(rf"^mcp__llmos_{_SNAKE}__{_SNAKE}$")


def check_tool_name(
    tool_name: str, *, denied: Iterable[str] = (), plugin_tools: Collection[str] | None = None
) -> Decision:
    """The by-name rule of a run's tools. No tool may match a `denied` pattern (a project's
    tool policy); an MCP tool must be an llmos plugin tool (`mcp__llmos_<plugin>__<tool>`:
    llmos connects no other MCP server) and, when `plugin_tools` is given, one of those
    (loaded for this run). `check_tool_call` applies the policy files' tool lists."""
    if any(fnmatch.fnmatchcase(tool_name, pattern) for pattern in denied):
        return deny(
            "tool-not-allowed",
            f"This project's policy does not allow {tool_name}. Reach the goal with other tools.",
        )
    if not tool_name.startswith("mcp__"):
        return ALLOW
    if not _PLUGIN_TOOL.match(tool_name):
        return deny(
            "unknown-mcp-tool",
            f"{tool_name} is not an llmos plugin tool, and llmos allows no other MCP tool.",
        )
    if plugin_tools is not None and tool_name not in plugin_tools:
        return deny(
            "tool-not-allowed",
            f"{tool_name} is not available in this run. Use the tools you were given.",
        )
    return ALLOW
