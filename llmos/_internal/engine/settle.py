"""The runs a killed llmos process left unfinished, recorded by the next command.

llmos/_internal/recovery.py finds the leases of dead processes; this records each run one noted: a
run with no ledger row is recorded as **crashed**, charged what its session log shows it
spent (its last `cost_updated` event), and its log gets a `run_finished` event and its seal;
a run whose row exists only has its log sealed. It is the crash path of the run lifecycle
(llmos/_internal/engine/lifecycle.py), which records every run that ends.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from llmos._internal import recovery
from llmos._internal.frozen import frozen
from llmos._internal.kernel.economy import RunRecord, TokenEconomy
from llmos._internal.memory.session_log import SEAL_SUFFIX, SessionLog, read_session


@frozen
class Settled:
    """One run a dead process left unfinished, now recorded."""

    run_id: str
    goal: str
    pid: int | None
    cost_usd: float
    recorded: bool  # a ledger row was written now (False: it had one, only the log was sealed)

    def describe(self) -> str:
        goal = self.goal if len(self.goal) <= 60 else self.goal[:57] + "..."
        who = f"llmos (pid {self.pid})" if self.pid else "the llmos process running it"
        if not self.recorded:
            return f"run {self.run_id} ({goal!r}) ended with {who}: its session log is now sealed"
        return (
            f"run {self.run_id} ({goal!r}) was cut off: {who} ended before recording it. "
            f"Recorded as crashed, charged ${self.cost_usd:.4f} (the spend its session log "
            "shows)."
        )


def settle(state_dir: Path, *, db_path: Path, initial_balance_usd: float) -> list[Settled]:
    """Settle every lease in `state_dir` whose process is gone. Returns the runs recorded."""
    record = partial(_settle_run, db_path=db_path, initial_balance_usd=initial_balance_usd)
    return recovery.settle_leases(state_dir, record)


def _settle_run(
    log_path: Path, pid: int | None, *, db_path: Path, initial_balance_usd: float
) -> Settled | None:
    run_id = log_path.name.removesuffix(".jsonl")
    seal = log_path.with_name(run_id + SEAL_SUFFIX)
    if seal.exists() or not log_path.exists():
        return None
    events = read_session(log_path)
    if not events:
        return None
    started = next((e for e in events if e.get("kind") == "run_started"), {})
    finished = next((e for e in events if e.get("kind") == "run_finished"), None)
    spent = max(
        (_number(e.get("spent_usd")) for e in events if e.get("kind") == "cost_updated"),
        default=0.0,
    )
    at = [_number(e.get("at")) for e in events]
    goal = str(started.get("goal") or "")
    error = (
        f"llmos (pid {pid}) ended before the run finished (killed?); recorded by the next "
        "command from the session log"
    )
    economy = TokenEconomy(db_path, initial_balance_usd=initial_balance_usd)
    try:
        row = economy.run(run_id)
        recorded = finished is None and row is None
        if recorded:
            economy.record_run(
                RunRecord(
                    run_id=run_id,
                    started_at=min(at) if at else time.time(),
                    finished_at=max(at) if at else time.time(),
                    goal=goal,
                    project=str(started.get("project") or "default"),
                    mode=str(started.get("mode") or "learner"),
                    model=started.get("model"),
                    status="crashed",
                    cost_usd=spent,
                    tool_calls=sum(1 for e in events if e.get("kind") == "tool_requested"),
                    duration_secs=(max(at) - min(at)) if at else 0.0,
                    error=error,
                    parent_run=events[0].get("parent_run_id"),
                )
            )
    finally:
        economy.close()
    # The log goes on where the dead process stopped: the same chain, then its seal.
    session = SessionLog.resume(log_path, events)
    if finished is None:
        # The ledger's word when it has the run (its log was cut short), else the crash.
        session.append(
            {
                "kind": "run_finished",
                "status": row.status if row else "crashed",
                "cost_usd": row.cost_usd if row else spent,
                "error": row.error if row else error,
                "recovered_at": time.time(),
            }
        )
    session.seal()
    return Settled(run_id, goal, pid, spent, recorded)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
