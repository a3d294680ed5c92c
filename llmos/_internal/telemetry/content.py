"""What of a run's content leaves the machine, and in what state.

Content (the goal, a tool call's input and result, the model's answer, the policy's reason,
which quotes the call) is exported only when the user opted in (`capture_content`); llmos's
own short texts (a notice, an error, the reason for the mode) always are. Everything that is
exported goes through the security package's redaction first (llmos/_internal/security/redact.py):
no API key, token or password leaves in a span, whatever the opt-in.
"""

from __future__ import annotations

import json
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.security.redact import redact

MAX_CONTENT_CHARS = 16_384  # one attribute: a backend truncates or rejects larger ones
MAX_TEXT_CHARS = 1_000  # llmos's own texts (errors, notices)
_MARK = "…[truncated]"


@frozen
class ContentPolicy:
    """Whether a run's content leaves in its spans; what does leave is redacted and capped."""

    capture: bool = False

    def content(self, value: Any) -> str | None:
        """`value` (text, or JSON-able data) as an attribute, if content is captured."""
        if not self.capture or value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return safe_text(text, MAX_CONTENT_CHARS)

    def messages(self, role: str, text: str | None, **extra: Any) -> str | None:
        """A GenAI message list (`gen_ai.input.messages` / `output.messages` JSON), if content
        is captured: one message of `role` with one text part."""
        if not self.capture or not text:
            return None
        part = {"type": "text", "content": safe_text(text, MAX_CONTENT_CHARS)}
        return json.dumps([{"role": role, "parts": [part], **extra}], ensure_ascii=False)


def safe_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` redacted, then cut to `limit` characters (cut after redacting, so that no
    secret is cut into a piece the redaction no longer recognises)."""
    cleaned = redact(text)
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - len(_MARK)] + _MARK
