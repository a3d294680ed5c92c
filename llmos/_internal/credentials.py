"""Can the Claude Code CLI reach a model? Checked before a run spends anything."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from llmos._internal.errors import NoModelAccessError

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


_AUTH_FAILURES = (
    "invalid api key",
    "invalid x-api-key",
    "authentication_error",
    "not logged in",
    "/login",
    "oauth token",
    "permission_error",
)
_UNREACHABLE = (
    "connection refused",
    "econnrefused",
    "can't reach the api",
    "cannot reach",
    "enotfound",
    "etimedout",
    "econnreset",
    "unable to connect",
    "fetch failed",
    "network error",
    "socket hang up",
    "issue with the selected model",
)
_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


def model_failure(
    errors: Sequence[str], env: Mapping[str, str], *, reached: bool
) -> NoModelAccessError | None:
    """The `NoModelAccessError` (exit 3) that the CLI's errors amount to, if they say the
    model could not be used at all: the credentials were refused, a gateway has no key, or
    the endpoint cannot be reached (`reached`: the model answered before, so a connection
    lost later is a failed run, not a missing access). None otherwise."""
    text = " ".join(errors).lower()
    base_url = env.get("ANTHROPIC_BASE_URL", "").strip()
    endpoint = base_url or "https://api.anthropic.com"
    where = f"{endpoint} (ANTHROPIC_BASE_URL)" if base_url else endpoint
    detail = "; ".join(e.strip() for e in errors if e.strip())
    if any(marker in text for marker in _AUTH_FAILURES):
        has_key = any(env.get(name, "").strip() for name in _KEYS)
        if base_url and not has_key:
            return NoModelAccessError(
                f"the model endpoint {where} needs a key, and none is set ({detail})",
                hint=f"Set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) to the key of {base_url}.",
            )
        variable = next((name for name in _KEYS if env.get(name, "").strip()), None)
        fix = (
            f"Check {variable}: the key was refused."
            if variable
            else "Set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), or log in again with the "
            "Claude Code CLI."
        )
        return NoModelAccessError(
            f"the model endpoint {where} refused the credentials ({detail})", hint=fix
        )
    if not reached and any(marker in text for marker in _UNREACHABLE):
        host = urlsplit(endpoint).netloc or endpoint
        return NoModelAccessError(
            f"cannot reach the model at {where}: {detail}",
            hint=f"Check that {host} is up and reachable"
            + (", and that ANTHROPIC_BASE_URL is right." if base_url else "."),
        )
    return None
