"""Live cost estimate of a run, from the token usage the model reports turn by turn.

The SDK reports the authoritative cost (`total_cost_usd`) only when a run ends. While it
runs, llmos estimates the spend from each assistant message's usage with the same
per-token prices as the Claude Code CLI, so the budget guard can stop tool calls once
the run's cap is reached. The final figure always replaces the estimate.
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


@dataclass
class CostMeter:
    """Accumulates usage per model message; several SDK messages can share one message id."""

    _by_message: dict[str, tuple[float, int, int]] = field(default_factory=dict)

    def observe(self, message_id: str, model: str | None, usage: dict[str, Any] | None) -> float:
        """Record the latest usage of one model message; return the run's estimated spend."""
        if usage:
            pin, pout = prices_for(model)
            tokens_in = int(usage.get("input_tokens") or 0)
            tokens_out = int(usage.get("output_tokens") or 0)
            cache_write = int(usage.get("cache_creation_input_tokens") or 0)
            cache_read = int(usage.get("cache_read_input_tokens") or 0)
            cost = (
                tokens_in * pin
                + tokens_out * pout
                + cache_write * pin * _CACHE_WRITE_FACTOR
                + cache_read * pin * _CACHE_READ_FACTOR
            ) / 1_000_000
            self._by_message[message_id] = (cost, tokens_in + cache_write + cache_read, tokens_out)
        return self.spent_usd

    @property
    def spent_usd(self) -> float:
        return sum(cost for cost, _, _ in self._by_message.values())

    @property
    def input_tokens(self) -> int:
        return sum(tokens for _, tokens, _ in self._by_message.values())

    @property
    def output_tokens(self) -> int:
        return sum(tokens for _, _, tokens in self._by_message.values())
