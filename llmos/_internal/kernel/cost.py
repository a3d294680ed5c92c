"""Live cost estimate of a run, from the token usage the model reports turn by turn.

The SDK reports the authoritative cost (`total_cost_usd`) only when a run ends. While it
runs, llmos estimates the spend from the usage the model's stream reports (input and cache
tokens when a message starts, output tokens as it ends) with the same per-token prices as
the Claude Code CLI: the budget guard stops tool calls once the run's cap is reached, and an
interrupted or killed run is charged this estimate. The final figure replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# USD per million tokens: (input, output). Unknown models are priced as Opus, as the CLI does.
_PRICES: dict[str, tuple[float, float]] = {
    "opus": (4.0, 20.0),
    "sonnet-4": (3.0, 15.0),
    "sonnet": (2.0, 10.0),
    "haiku": (0.1, 0.5),
}
_CACHE_WRITE_FACTOR = 1.25
_CACHE_READ_FACTOR = 0.1


def prices_for(model: str | None) -> tuple[float, float]:
    name = (model or "").lower()
    for family, price in _PRICES.items():
        if family in name:
            return price
    return _PRICES["opus"]


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass
class CostMeter:
    """Accumulates usage per model message. One message is reported several times: its
    stream's `message_start` (input and cache tokens), `message_delta` (the output tokens,
    counted up to the end of the message) and the SDK's messages built from it; each count
    only grows, so the meter keeps the largest seen of each."""

    _by_message: dict[str, tuple[str | None, dict[str, int]]] = field(default_factory=dict)

    def observe(self, message_id: str, model: str | None, usage: dict[str, Any] | None) -> float:
        """Record the latest usage of one model message; return the run's estimated spend."""
        if usage:
            known_model, counts = self._by_message.get(message_id, (None, {}))
            for key in _USAGE_KEYS:
                value = usage.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    counts[key] = max(counts.get(key, 0), int(value))
            self._by_message[message_id] = (model or known_model, counts)
        return self.spent_usd

    def usage_of(self, message_id: str) -> dict[str, int]:
        """The latest counts of one model message (empty if it reported none)."""
        return dict(self._by_message.get(message_id, (None, {}))[1])

    @staticmethod
    def _cost(model: str | None, counts: dict[str, int]) -> float:
        pin, pout = prices_for(model)
        return (
            counts.get("input_tokens", 0) * pin
            + counts.get("output_tokens", 0) * pout
            + counts.get("cache_creation_input_tokens", 0) * pin * _CACHE_WRITE_FACTOR
            + counts.get("cache_read_input_tokens", 0) * pin * _CACHE_READ_FACTOR
        ) / 1_000_000

    @property
    def spent_usd(self) -> float:
        return sum(self._cost(model, counts) for model, counts in self._by_message.values())

    @property
    def input_tokens(self) -> int:
        return sum(
            c.get("input_tokens", 0)
            + c.get("cache_creation_input_tokens", 0)
            + c.get("cache_read_input_tokens", 0)
            for _, c in self._by_message.values()
        )

    @property
    def output_tokens(self) -> int:
        return sum(c.get("output_tokens", 0) for _, c in self._by_message.values())
