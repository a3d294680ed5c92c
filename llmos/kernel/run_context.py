"""What one run knows about itself; shared by the hooks, the agent runner and the dispatcher."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from llmos.kernel.bus import EventBus
from llmos.kernel.cost import CostMeter


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


@dataclass
class RunContext:
    goal: str
    project: str
    workdir: Path
    mode: str
    budget_usd: float
    bus: EventBus
    model: str | None = None
    home: Path = field(default_factory=Path.home)
    run_id: str = field(default_factory=new_run_id)
    started_at: float = field(default_factory=time.time)
    cost: CostMeter = field(default_factory=CostMeter)
    tool_calls: int = 0
    denied_calls: int = 0

    @property
    def spent_usd(self) -> float:
        return self.cost.spent_usd
