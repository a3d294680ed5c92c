"""Counting tokens for recall, which must never go over its budget.

Two counters. The model API's `count_tokens` endpoint (`llmos/sdk/token_count.py`) gives
real counts; recall uses it in Learner runs, which have model access anyway. When it cannot
be used (Bedrock or Vertex, a Claude Code login whose credentials llmos does not read, the
endpoint failing), recall falls back to a conservative count: the text's UTF-8 length in
bytes. Claude's tokenizer never makes a token of less than one byte, so that is a true upper
bound, and the budget holds either way; it just fits less.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

# Used when the run's model is an alias ("sonnet") or unset: the endpoint wants a model id.
DEFAULT_COUNT_MODEL = "claude-sonnet-4-5"
DEFAULT_API_URL = "https://api.anthropic.com"
_CLOUD_PROVIDERS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")


class TokenCountUnavailable(Exception):
    """The counter could not count (the endpoint is down, refused, or answered nonsense)."""


class TokenCounter(Protocol):
    @property
    def name(self) -> str: ...

    def count(self, texts: Sequence[str]) -> list[int]:
        """The number of tokens of each text. Raises `TokenCountUnavailable`."""
        ...


class ConservativeCounter:
    """Bytes as tokens: an upper bound on any byte-level tokenizer's count."""

    def __init__(self, why: str = "") -> None:
        self._why = why

    @property
    def name(self) -> str:
        base = "conservative (UTF-8 bytes, an upper bound)"
        return f"{base}: {self._why}" if self._why else base

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(text.encode("utf-8")) for text in texts]


def counter_for(env: Mapping[str, str], model: str | None) -> TokenCounter:
    """The best counter this environment allows; never raises."""
    if any(env.get(name, "").strip() not in ("", "0") for name in _CLOUD_PROVIDERS):
        return ConservativeCounter("count_tokens is not used with a cloud provider")
    api_key = env.get("ANTHROPIC_API_KEY", "").strip()
    auth_token = env.get("ANTHROPIC_AUTH_TOKEN", "").strip()
    base_url = env.get("ANTHROPIC_BASE_URL", "").strip()
    if not (api_key or auth_token or base_url):
        return ConservativeCounter("no API key or base URL for count_tokens")
    from llmos.sdk.token_count import ApiTokenCounter  # only Learner runs get here

    return ApiTokenCounter(
        base_url=base_url or DEFAULT_API_URL,
        model=model if model and model.startswith("claude-") else DEFAULT_COUNT_MODEL,
        api_key=api_key or None,
        auth_token=auth_token or None,
    )
