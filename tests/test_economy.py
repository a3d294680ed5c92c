"""The token economy: balance, authorization before a run, charging after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos._internal.errors import LowBatteryError, UsageError
from llmos._internal.kernel.economy import RunRecord, TokenEconomy


def _record(run_id: str, cost: float, status: str = "success") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        started_at=1.0,
        finished_at=2.0,
        goal="g",
        project="default",
        mode="learner",
        model="m",
        status=status,
        cost_usd=cost,
    )


def test_balance_starts_from_settings_and_persists(tmp_path: Path) -> None:
    economy = TokenEconomy(tmp_path / "db.sqlite", initial_balance_usd=2.5)
    assert economy.balance == 2.5
    economy.add(1.0)
    economy.close()
    again = TokenEconomy(tmp_path / "db.sqlite", initial_balance_usd=99)
    assert again.balance == 3.5
    assert [e.reason for e in again.balance_log()] == ["top-up", "initial balance"]


def test_authorize_caps_at_the_balance_and_refuses_a_flat_battery(tmp_path: Path) -> None:
    economy = TokenEconomy(tmp_path / "db.sqlite", initial_balance_usd=1.0)
    assert economy.authorize(None) == 1.0
    assert economy.authorize(0.25) == 0.25
    assert economy.authorize(5.0) == 1.0
    economy.set_balance(0.0)
    with pytest.raises(LowBatteryError) as info:
        economy.authorize(0.5)
    assert "low battery" in info.value.message and info.value.hint
    with pytest.raises(UsageError):
        economy.authorize(-1)


def test_every_run_is_recorded_and_charged(tmp_path: Path) -> None:
    economy = TokenEconomy(tmp_path / "db.sqlite", initial_balance_usd=1.0)
    economy.record_run(_record("a", 0.125))
    economy.record_run(_record("b", 0.25, status="timed_out"))
    assert economy.balance == pytest.approx(0.625)
    assert economy.run_count() == 2
    assert economy.total_spent() == pytest.approx(0.375)
    assert {r.run_id: r.status for r in economy.runs()} == {"a": "success", "b": "timed_out"}


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf")])
def test_bad_amounts_are_refused(tmp_path: Path, amount: float) -> None:
    economy = TokenEconomy(tmp_path / "db.sqlite", initial_balance_usd=1.0)
    with pytest.raises(UsageError):
        economy.set_balance(amount)
    assert economy.balance == 1.0
