"""The audit trail's own database (`state/audit.db`, llmos/_internal/security/audit.py): a new
workspace gets it; a workspace an earlier llmos made, whose audit table lived in the ledger's
database (`llmos.db`, ledger migration 4), is moved to it by the first command that reads
the trail, with every row kept, its journal continued, at once by many processes, after a
kill in the middle, and with the ledger's database held by another writer. Through the real
`llmos` command where a user would meet it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

from conftest import Sandbox, run_llmos

from llmos._internal.database import open_database, transaction
from llmos._internal.journal import JournalSpec
from llmos._internal.kernel import economy
from llmos._internal.memory.trace import Trace, TraceStep, render

# The ledger's migration 4 and journal as llmos wrote them before the audit trail had a
# database of its own: how the test builds a workspace of that layout.
_OLD_MIGRATION_4 = """
    CREATE TABLE policy_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        run_id TEXT NOT NULL,
        source TEXT NOT NULL,
        tool TEXT NOT NULL,
        input TEXT NOT NULL,
        decision TEXT NOT NULL,
        policy_decision TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        approved_by TEXT,
        ran_input TEXT
    );
    CREATE INDEX policy_audit_by_run ON policy_audit(run_id, id);
"""
_OLD_MIGRATIONS = (*economy.MIGRATIONS[:3], _OLD_MIGRATION_4, *economy.MIGRATIONS[4:])


def _old_journal(state: Path) -> JournalSpec:
    return JournalSpec(
        state / "journal", (*economy.ledger_journal(state).tables, ("policy_audit", "audit"))
    )


def _row(number: int, run_id: str = "old-run") -> dict[str, object]:
    return {
        "at": 1_700_000_000.0 + number,
        "run_id": run_id,
        "source": "learner",
        "tool": "Bash",
        "input": json.dumps({"command": f"echo {number}"}),
        "decision": "allow" if number % 2 else "deny",
        "policy_decision": "ask" if number % 2 else "deny",
        "rule": f"rule-{number}",
        "reason": f"why {number}",
        "approved_by": "the user" if number % 2 else None,
        "ran_input": None,
    }


def _old_workspace(sandbox: Sandbox, rows: int = 3) -> Path:
    """A workspace as an earlier llmos left it: the audit rows in `llmos.db`, journaled
    (with the ledger's tables) in journal/audit.jsonl. Returns its state folder."""
    _ok(run_llmos(sandbox, "budget", "add", "2.5"))  # made by this llmos: a ledger with rows
    state = sandbox.workspace / "state"
    for path in state.glob("llmos.db*"):
        path.unlink()
    for name in ("ledger.jsonl", "audit.jsonl"):
        (state / "journal" / name).unlink(missing_ok=True)
    with closing(
        open_database(state / "llmos.db", _OLD_MIGRATIONS, journal=_old_journal(state))
    ) as db:
        with transaction(db) as cur:
            cur.execute("INSERT INTO meta(key, value) VALUES('balance_usd', '7.5')")
        for number in range(1, rows + 1):
            with transaction(db) as cur:
                row = _row(number)
                cur.execute(
                    f"INSERT INTO policy_audit({', '.join(row)}) "
                    f"VALUES({', '.join(':' + k for k in row)})",
                    row,
                )
    return state


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _audit(sandbox: Sandbox, *args: str) -> list[dict]:
    out = _ok(run_llmos(sandbox, "policy", "audit", "--json", "--limit", "500", *args)).stdout
    return json.loads(out)["entries"]


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master")}


def _import_trace(sandbox: Sandbox) -> None:
    """One more audit row, as a user makes it (`llmos traces import` vets each step)."""
    path = sandbox.root / "hello.md"
    step = TraceStep("Bash", {"command": "echo hello"}, checks={"exit_code": 0})
    path.write_text(render(Trace(goal_text="say hello", steps=(step,))), encoding="utf-8")
    _ok(run_llmos(sandbox, "traces", "import", str(path)))


# A new workspace ---------------------------------------------------------------------------
def test_a_new_workspace_keeps_the_audit_trail_in_its_own_journaled_database(
    sandbox: Sandbox,
) -> None:
    _import_trace(sandbox)
    _ok(run_llmos(sandbox, "budget", "add", "1"))  # and a ledger row
    state = sandbox.workspace / "state"
    (entry,) = _audit(sandbox)
    assert entry["source"] == "import" and entry["input"] == {"command": "echo hello"}
    assert "policy_audit" in _tables(state / "audit.db")
    assert not any("audit" in name for name in _tables(state / "llmos.db"))  # the ledger's
    lines = (state / "journal" / "audit.jsonl").read_text().splitlines()
    assert any('"echo hello' in line for line in lines)
    assert "policy_audit" not in (state / "journal" / "ledger.jsonl").read_text()
    doctor = json.loads(_ok(run_llmos(sandbox, "doctor", "--json")).stdout)["checks"]
    (found,) = [f for f in doctor if "audit.db" in f["check"]]
    assert found["status"] == "ok"


# An earlier llmos's workspace --------------------------------------------------------------
def test_an_earlier_layout_is_moved_whole_and_its_journal_goes_on(sandbox: Sandbox) -> None:
    state = _old_workspace(sandbox, rows=5)
    before = {
        r[0] for r in sqlite3.connect(state / "llmos.db").execute("SELECT id FROM policy_audit")
    }
    assert before == {1, 2, 3, 4, 5}
    assert not (state / "audit.db").exists()

    entries = _audit(sandbox)
    assert [e["rule"] for e in entries] == [f"rule-{n}" for n in range(1, 6)]
    assert entries[1]["decision"] == "deny" and entries[0]["approved_by"] == "the user"
    # The ledger's database holds no trace of the audit trail any more; its own rows stay.
    ledger = _tables(state / "llmos.db")
    assert not any("policy_audit" in name for name in ledger)
    with closing(sqlite3.connect(state / "llmos.db")) as db:
        assert db.execute("SELECT name FROM journal_state").fetchall() == [("ledger",)]
    assert json.loads(_ok(run_llmos(sandbox, "budget", "--json")).stdout)["balance_usd"] == 7.5
    assert not list(state.glob(".audit.db.*"))  # the copy under its temporary name is gone

    # The journal goes on where the ledger's database left it: a new row is appended, and a
    # lost audit.db is rebuilt from it with the earlier rows and the new one.
    _import_trace(sandbox)
    assert len(_audit(sandbox)) == 6
    (state / "audit.db").unlink()
    for suffix in ("-wal", "-shm"):
        (state / f"audit.db{suffix}").unlink(missing_ok=True)
    refused = run_llmos(sandbox, "policy", "audit")
    assert refused.returncode == 6 and "is missing" in refused.stderr
    assert "llmos doctor --repair" in refused.stderr
    _ok(run_llmos(sandbox, "doctor", "--repair"))
    rebuilt = _audit(sandbox)
    assert [e["rule"] for e in rebuilt[:5]] == [f"rule-{n}" for n in range(1, 6)]
    assert rebuilt[5]["source"] == "import" and len(rebuilt) == 6


def test_a_journaled_row_the_earlier_ledger_never_committed_is_not_lost(
    sandbox: Sandbox,
) -> None:
    """A kill (or a full disk) between the journal's line and the commit, before upgrading."""
    state = _old_workspace(sandbox, rows=2)
    row = {"id": 3, **_row(3, run_id="late-run")}
    with (state / "journal" / "audit.jsonl").open("a", encoding="utf-8") as handle:
        line = {"at": time.time(), "changes": [{"t": "policy_audit", "op": "upsert", "row": row}]}
        handle.write(json.dumps(line) + "\n")
    entries = _audit(sandbox)
    assert [e["run_id"] for e in entries] == ["old-run", "old-run", "late-run"]


def test_many_commands_upgrading_at_once_move_the_rows_once(sandbox: Sandbox) -> None:
    state = _old_workspace(sandbox, rows=4)
    commands = [("policy", "audit", "--json")] * 6 + [("budget",), ("status",)]
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda args: run_llmos(sandbox, *args), commands))
    for args, proc in zip(commands, results, strict=True):
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    listings = [json.loads(p.stdout)["entries"] for p in results[:6]]
    assert all([e["rule"] for e in lst] == [f"rule-{n}" for n in range(1, 5)] for lst in listings)
    with closing(sqlite3.connect(state / "audit.db")) as db:
        assert db.execute("SELECT count(*) FROM policy_audit").fetchone() == (4,)
    assert "policy_audit" not in _tables(state / "llmos.db")
    assert not list(state.glob(".audit.db.*"))


def test_a_move_killed_before_the_drop_is_finished_by_the_next_command(
    sandbox: Sandbox,
) -> None:
    """Killed after audit.db appeared, before the table left llmos.db: both hold the rows."""
    state = _old_workspace(sandbox, rows=3)
    _audit(sandbox)  # moves it ...
    with closing(sqlite3.connect(state / "audit.db")) as db, db:  # ... as if killed before:
        db.execute("INSERT INTO audit_meta(key, value) VALUES('earlier_home', 'llmos.db')")
    with closing(sqlite3.connect(state / "llmos.db")) as db, db:
        db.executescript(_OLD_MIGRATION_4)
        for number in (1, 2, 3):
            row = _row(number)
            db.execute(
                f"INSERT INTO policy_audit({', '.join(row)}) "
                f"VALUES({', '.join(':' + k for k in row)})",
                row,
            )

    assert [e["rule"] for e in _audit(sandbox)] == ["rule-1", "rule-2", "rule-3"]
    assert "policy_audit" not in _tables(state / "llmos.db")
    with closing(sqlite3.connect(state / "audit.db")) as db:
        assert db.execute("SELECT count(*) FROM audit_meta").fetchone() == (0,)


def test_the_move_waits_for_a_writer_holding_the_ledger(sandbox: Sandbox) -> None:
    state = _old_workspace(sandbox, rows=2)
    held = threading.Event()

    def hold() -> None:
        with closing(sqlite3.connect(state / "llmos.db", isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(2)
            db.execute("COMMIT")

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        started = time.monotonic()
        entries = _audit(sandbox)
        assert time.monotonic() - started >= 1.5  # it waited, and did not fail
    finally:
        holder.join()
    assert [e["rule"] for e in entries] == ["rule-1", "rule-2"]


def test_doctor_reports_an_earlier_layout_and_repair_moves_it(sandbox: Sandbox) -> None:
    state = _old_workspace(sandbox, rows=2)
    checks = json.loads(_ok(run_llmos(sandbox, "doctor", "--json")).stdout)["checks"]
    (found,) = [f for f in checks if "audit.db" in f["check"]]
    assert found["status"] == "ok" and "llmos.db" in found["detail"]
    assert not (state / "audit.db").exists()  # doctor alone changes nothing

    _ok(run_llmos(sandbox, "doctor", "--repair"))
    assert (state / "audit.db").exists() and "policy_audit" not in _tables(state / "llmos.db")
    assert [e["rule"] for e in _audit(sandbox)] == ["rule-1", "rule-2"]


def test_a_damaged_ledger_in_an_earlier_layout_is_rebuilt_with_its_audit_trail(
    sandbox: Sandbox,
) -> None:
    state = _old_workspace(sandbox, rows=3)
    (state / "llmos.db").write_bytes(b"garbage" * 2000)
    proc = run_llmos(sandbox, "policy", "audit")
    assert proc.returncode == 6 and "llmos doctor --repair" in proc.stderr
    assert "Traceback" not in proc.stderr
    _ok(run_llmos(sandbox, "doctor", "--repair"))
    assert [e["rule"] for e in _audit(sandbox)] == ["rule-1", "rule-2", "rule-3"]
    assert json.loads(_ok(run_llmos(sandbox, "budget", "--json")).stdout)["balance_usd"] == 7.5
