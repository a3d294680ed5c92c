"""How often a learned thing (a trace, an orchestration's plan) was used and how it went: its
usage statistics, one value for both, as their front matter and index store them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from typing import Any

from llmos._internal.frozen import frozen


def now_iso() -> str:
    """Now, as the files and indexes of llmos write a time: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def success_rating(successes: int, failures: int, *, z: float = 1.0) -> float:
    """The Wilson score lower bound of the success rate: a rate that needs evidence.

    One success rates 0.5, five in a row 0.83; one failure after one success drops it to
    0.21. With z = 1 this is a one-sided 84% confidence bound.
    """
    n = successes + failures
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return round((centre - margin) / (1 + z * z / n), 4)


@frozen
class Usage:
    """Uses, successes and failures, the rating they earn, and when it was last used."""

    usage_count: int = 1
    success_count: int = 1
    failure_count: int = 0
    last_used: str = field(default_factory=now_iso)

    @property
    def success_rating(self) -> float:
        return success_rating(self.success_count, self.failure_count)

    def counted(self, *, ok: bool) -> Usage:
        """After one more use, now."""
        return Usage(
            self.usage_count + 1,
            self.success_count + (1 if ok else 0),
            self.failure_count + (0 if ok else 1),
            now_iso(),
        )

    def merged(self, other: Usage) -> Usage:
        """Two records of the same thing as one (the later one's last use)."""
        return Usage(
            self.usage_count + other.usage_count,
            self.success_count + other.success_count,
            self.failure_count + other.failure_count,
            max(self.last_used, other.last_used),
        )

    def fields(self) -> dict[str, Any]:
        """The five fields as front matter and the record types hold them."""
        return {
            "usage_count": self.usage_count,
            "success_count": self.success_count,
            "failure_count": self.failure_count,
            "success_rating": self.success_rating,
            "last_used": self.last_used,
        }

    @classmethod
    def of(cls, record: Any) -> Usage:
        """The usage of a record that has the fields (a Trace, an OrchestrationRecord)."""
        return cls(record.usage_count, record.success_count, record.failure_count, record.last_used)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Usage:
        """From front matter, missing counts as none."""
        return cls(
            int(meta.get("usage_count") or 0),
            int(meta.get("success_count") or 0),
            int(meta.get("failure_count") or 0),
            str(meta.get("last_used") or now_iso()),
        )
