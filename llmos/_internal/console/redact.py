"""Secrets never reach a page: what the console shows (tool inputs, goals, errors, memory)
passes through `redact`, which hides API keys by their shape (Anthropic's `sk-ant-...`,
the gateway's `sk-llmos-...`, bearer tokens, private key blocks) and the values of this
process's environment variables whose names say they are secret."""

from __future__ import annotations

import os
import re
from typing import Any

HIDDEN = "[secret hidden]"
_SHAPES = re.compile(
    r"sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|sk-llmos-[A-Za-z0-9_\-]{8,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
)
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def _secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    text = _SHAPES.sub(HIDDEN, text)
    for value in _secret_values():
        if value in text:
            text = text.replace(value, HIDDEN)
    return text


def redact_all(value: Any) -> Any:
    """`value` (JSON-like) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(v) for v in value]
    return value
