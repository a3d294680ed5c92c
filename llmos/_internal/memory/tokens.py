"""Counting tokens for recall, which must never go over its budget.

Two counters (`counter_for` in llmos/_internal/sdk/token_count.py picks one). The model API's
`count_tokens` endpoint gives
real counts; recall uses it in Learner runs, which have model access anyway. When it cannot
be used (Bedrock or Vertex, a Claude Code login whose credentials llmos does not read, the
endpoint failing), recall falls back to a conservative count: the text's UTF-8 length in
bytes. Claude's tokenizer never makes a token of less than one byte, so that is a true upper
bound, and the budget holds either way; it just fits less.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger(__name__)


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
