"""Can the Claude Code CLI reach a model? Checked before a run spends anything."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from llmos.errors import NoModelAccessError

_AUTH_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
)

HOW_TO_CONNECT = (
    "Set ANTHROPIC_API_KEY (export ANTHROPIC_API_KEY=sk-ant-...), or point ANTHROPIC_BASE_URL "
    "at an Anthropic-compatible gateway, or log in once with the Claude Code CLI. "
    "`llmos demo` runs offline with a scripted model and needs none of these."
)


def model_access(env: Mapping[str, str] | None = None) -> str:
    """Name the way the CLI will authenticate, or raise `NoModelAccessError`."""
    env = os.environ if env is None else env
    for name in _AUTH_VARIABLES:
        if env.get(name, "").strip():
            return name
    config_dir = Path(
        env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME") or Path.home()) / ".claude"
    )
    if (config_dir / ".credentials.json").is_file():
        return f"Claude Code login ({config_dir})"
    raise NoModelAccessError("no way to reach a model is configured", hint=HOW_TO_CONNECT)
