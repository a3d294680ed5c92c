"""config.yaml and a project's settings are checked when they are loaded: a bad value is
named with what it may be, before anything runs or is charged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.testing.scripted_model import ScriptedModelServer
from llmos._internal.workspace import Settings


def _configure(sandbox: Sandbox, line: str) -> None:
    run_llmos(sandbox, "status")
    with (sandbox.workspace / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("\n" + line + "\n")


def _runs(sandbox: Sandbox) -> list[tuple]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        return db.execute("SELECT run_id FROM runs").fetchall() if "runs" in tables else []


BAD = [
    ("max_turns: -3", "config.yaml: max_turns must be an integer >= 1, not -3"),
    ("max_turns: 0", "max_turns must be an integer >= 1, not 0"),
    ("max_turns: 2.5", "max_turns must be an integer >= 1, not 2.5"),
    ("max_turns: lots", "max_turns must be an integer >= 1, not 'lots'"),
    ("initial_balance_usd: -1", "initial_balance_usd must be a number >= 0, not -1"),
    ("memory_min_relevance: 1.5", "memory_min_relevance must be a number from 0 to 1, not 1.5"),
    ("follower_min_rating: -0.1", "follower_min_rating must be a number from 0 to 1, not -0.1"),
    ("memory_context_tokens: true", "memory_context_tokens must be an integer >= 0, not true"),
    ("stall_timeout_secs: -1", "stall_timeout_secs must be a number >= 0 (0: no limit), not -1"),
    ("tool_timeout_secs: .nan", "tool_timeout_secs must be a number >= 0 (0: no limit), not nan"),
    ("scheduled_run_timeout_secs: [1]", "scheduled_run_timeout_secs must be a number >= 0"),
    ("schedule_misfire_grace_secs: -5", "schedule_misfire_grace_secs must be a number >= 0"),
    ("model: 3", "model must be a name (text) or null, not 3"),
    ("model: ''", "model must be a name (text) or null, not ''"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_a_bad_setting_is_named_with_what_it_may_be(
    sandbox: Sandbox, line: str, message: str
) -> None:
    _configure(sandbox, line)
    for args in (["status"], ["traces", "list"]):
        proc = run_llmos(sandbox, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
    as_json = run_llmos(sandbox, "status", "--json")
    assert as_json.returncode == 2 and message in json.loads(as_json.stdout)["error"]


def test_a_bad_setting_stops_a_run_before_anything_is_charged(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _configure(sandbox, "max_turns: -3")
    proc = run_llmos(sandbox, "run", "--model", MODEL, "Say hi", server=scripted)
    assert proc.returncode == 2 and "max_turns must be an integer >= 1, not -3" in proc.stderr
    assert scripted.message_requests == [] and _runs(sandbox) == []


def test_a_bad_project_setting_is_named_with_its_file(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    assert run_llmos(sandbox, "project", "create", "lab").returncode == 0
    project_file = sandbox.workspace / "projects" / "lab" / "project.yaml"
    project_file.write_text("settings:\n  max_turns: 0\n", encoding="utf-8")
    proc = run_llmos(sandbox, "run", "-p", "lab", "--model", MODEL, "Say hi", server=scripted)
    assert proc.returncode == 2, proc.stderr
    assert f"{project_file}: max_turns must be an integer >= 1, not 0" in proc.stderr
    assert scripted.message_requests == [] and _runs(sandbox) == []


@pytest.mark.parametrize(
    "values",
    [
        {"max_turns": 1, "stall_timeout_secs": 0, "model": None},
        {"memory_min_relevance": 0, "follower_min_rating": 1, "initial_balance_usd": 0},
        {"max_turns": "12", "tool_timeout_secs": 2.5, "model": "haiku"},
    ],
)
def test_good_values_are_kept(values: dict) -> None:
    settings = Settings.from_mapping(values, source=Path("config.yaml"))
    for key, value in values.items():
        assert getattr(settings, key) == (int(value) if key == "max_turns" else value)


def test_every_number_setting_has_a_checked_range() -> None:
    """A new setting gets a range (or is deliberately left out, like `follower_threshold`,
    which is being retired): a negative value of each ranged setting is refused."""
    from dataclasses import fields

    from llmos._internal.workspace import _BOUNDS

    numbers = {f.name for f in fields(Settings) if isinstance(f.default, int | float)}
    assert numbers - set(_BOUNDS) <= {"follower_threshold"}, numbers - set(_BOUNDS)
    for name in _BOUNDS:
        with pytest.raises(UsageError, match=f"{name} must be"):
            Settings.from_mapping({name: -1}, source=Path("config.yaml"))
