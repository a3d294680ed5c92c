"""How an orchestration splits its cap, so that what it may spend never adds up past it.

Every model call of the run draws an allocation from one pool: each planning call at most
`PLANNING_SHARE` of the cap, the final synthesis `SYNTHESIS_SHARE` (reserved before
anything else), each at least `CALL_FLOOR_USD` (a planning call on a large model costs a
couple of cents whatever the cap; the synthesis never more than a quarter of the cap), and
the subtasks the rest: subtask i gets `budget_share_i x pool`,
where the pool is what is left once the plan is accepted. An allocation holds its whole cap
while open; once closed it holds only what was spent, and the rest returns to the pool (for
a revised plan). A retry spends what is left of its subtask's own allocation, so all the
attempts of a subtask together stay within its share.

Invariant (checked): the open caps plus the money spent never exceed the run's cap.
"""

from __future__ import annotations

from dataclasses import dataclass

PLANNING_SHARE = 0.10
SYNTHESIS_SHARE = 0.10
CALL_FLOOR_USD = 0.05
_SLACK = 1e-9


@dataclass
class Allocation:
    """What one planning call, subtask or the synthesis may spend, drawn from the pool."""

    cap_usd: float
    spent_usd: float = 0.0
    open: bool = True

    @property
    def held_usd(self) -> float:
        return self.cap_usd if self.open else self.spent_usd

    @property
    def left_usd(self) -> float:
        return max(0.0, self.cap_usd - self.spent_usd)


class BudgetPool:
    def __init__(self, total_usd: float) -> None:
        self.total_usd = total_usd
        self._allocations: dict[str, Allocation] = {}

    @property
    def free_usd(self) -> float:
        held = sum(a.held_usd for a in self._allocations.values())
        return max(0.0, self.total_usd - held)

    @property
    def spent_usd(self) -> float:
        return sum(a.spent_usd for a in self._allocations.values())

    def allocate(self, key: str, cap_usd: float) -> float:
        """Hold `cap_usd` (cut to what is free) for `key`; returns the cap granted."""
        if key in self._allocations:
            raise ValueError(f"budget key {key!r} is already allocated")
        cap = max(0.0, min(cap_usd, self.free_usd))
        self._allocations[key] = Allocation(cap)
        self._check()
        return cap

    def charge(self, key: str, cost_usd: float) -> None:
        """Record what one model run under `key` spent (the SDK's figure, may overshoot)."""
        self._allocations[key].spent_usd += max(0.0, cost_usd)

    def close(self, key: str) -> None:
        """Nothing more runs under `key`: its unspent cap returns to the pool."""
        self._allocations[key].open = False

    def left(self, key: str) -> float:
        return self._allocations[key].left_usd

    def cap(self, key: str) -> float:
        return self._allocations[key].cap_usd

    def planning_cap(self) -> float:
        return min(max(self.total_usd * PLANNING_SHARE, CALL_FLOOR_USD), self.free_usd)

    def synthesis_reserve(self) -> float:
        share = max(self.total_usd * SYNTHESIS_SHARE, CALL_FLOOR_USD)
        return min(share, self.total_usd / 4)

    def _check(self) -> None:
        held = sum(a.cap_usd for a in self._allocations.values() if a.open)
        # A run may overshoot its cap by its last turn (the SDK checks after each turn);
        # that is the SDK's slack, not an allocation, so count at most the cap here.
        spent = sum(min(a.spent_usd, a.cap_usd) for a in self._allocations.values() if not a.open)
        assert held + spent <= self.total_usd + _SLACK, "budget allocations exceed the run's cap"
