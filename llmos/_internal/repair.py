"""The workspace's health: checks of its state, and what `llmos doctor --repair` does about
each problem.

A check is a small function from the workspace to findings; `CHECKS` lists them in order
(machine checks from elsewhere are added to the same list by the doctor command). Repairs
only ever rebuild what has another source (a database from its journal, an index from the
files, a crashed run's record from its session log) or remove what llmos itself left half
done (temporary files of a killed writer); what they replace is moved aside, not deleted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from llmos._internal.errors import LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.workspace import Workspace

Status = Literal["ok", "warning", "problem", "repaired"]


@dataclass
class Finding:
    """The result of one workspace check, and what `--repair` does (or did) about it."""

    check: str
    status: Status
    detail: str
    fix: str | None = None  # what --repair does about it (or what the user must do)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Check = Callable[[Workspace, bool], list[Finding]]


# Primary databases ---------------------------------------------------------------------------
@frozen
class _Primary:
    """A database whose state exists nowhere else (but in its journal), and how to rebuild it."""

    name: str  # what it holds, for messages
    path: Path
    migrations: tuple[str, ...]
    journal: Any  # JournalSpec
    # Whether it still lives where an earlier llmos kept it (the next command moves it), and
    # what moves it (`--repair`).
    earlier_layout: Callable[[Path], bool] | None = None
    upgrade: Callable[[Path], object] | None = None


def _primaries(ws: Workspace) -> list[_Primary]:
    from llmos._internal.kernel import economy, jobs
    from llmos._internal.security import audit

    return [
        _Primary(
            "ledger",
            ws.db_path,
            economy.MIGRATIONS,
            economy.ledger_journal(ws.state_dir),
        ),
        _Primary(
            "audit trail",
            ws.audit_db_path,
            audit.MIGRATIONS,
            audit.audit_journal(ws.state_dir),
            earlier_layout=audit.earlier_layout,
            upgrade=lambda path: audit.connect(path).close(),
        ),
        _Primary(
            "schedule",
            ws.state_dir / "schedule.db",
            jobs.MIGRATIONS,
            jobs.schedule_journal(ws.state_dir),
        ),
    ]


def _journal_sizes(primary: _Primary) -> dict[str, int]:
    sizes = {}
    for name in primary.journal.names:
        with contextlib.suppress(OSError):
            sizes[name] = primary.journal.path(name).stat().st_size
    return sizes


def _database_problem(primary: _Primary) -> str | None:
    """What is wrong with a primary database, or None; it is opened read-only for this."""
    path = primary.path
    if not path.exists():
        if any(_journal_sizes(primary).values()):
            return "it is missing, but its journal shows it existed"
        return None
    return _integrity_problem(path)


def check_primary_databases(ws: Workspace, repair: bool) -> list[Finding]:
    from llmos._internal.journal import rebuild

    findings = []
    for primary in _primaries(ws):
        check = f"database {primary.path.name} ({primary.name})"
        if primary.earlier_layout is not None and primary.earlier_layout(primary.path):
            if not repair:
                detail = f"kept in {ws.db_path.name}, where an earlier llmos put it"
                fix = f"move it to {primary.path} (any command that reads it does too)"
                findings.append(Finding(check, "ok", detail, fix))
                continue
            assert primary.upgrade is not None
            primary.upgrade(primary.path)
            findings.append(
                Finding(check, "repaired", f"moved from {ws.db_path.name} to {primary.path}")
            )
            continue
        problem = _database_problem(primary)
        if problem is None:
            findings.append(Finding(check, "ok", str(primary.path)))
            continue
        journaled = any(_journal_sizes(primary).values())
        if not journaled:
            findings.append(
                Finding(
                    check,
                    "problem",
                    f"{primary.path}: {problem}; it has no journal to rebuild it from",
                    "Restore it from a backup; or move it aside to start a new one "
                    "(the history it held is lost).",
                )
            )
            continue
        fix = f"rebuild it from {primary.journal.folder} (the old file is moved aside)"
        if not repair:
            findings.append(Finding(check, "problem", f"{primary.path}: {problem}", fix))
            continue
        rebuilt = rebuild(primary.path, primary.migrations, primary.journal)
        moved = f"; the old file is {rebuilt.moved_to}" if rebuilt.moved_to else ""
        findings.append(
            Finding(
                check,
                "repaired",
                f"{primary.path}: {problem}; rebuilt from {rebuilt.records} journal "
                f"record(s){moved}",
            )
        )
    return findings


# Derived indexes -----------------------------------------------------------------------------
def _index_problem(path: Path) -> str | None:
    return _integrity_problem(path) if path.exists() else None


def _integrity_problem(path: Path) -> str | None:
    """What SQLite finds wrong with the database at `path` (its header, then a quick check,
    read-only), or None."""
    from llmos._internal.database import header_problem

    problem = header_problem(path)
    if problem:
        return problem
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"it cannot be read ({exc})"
    if rows != [("ok",)]:
        return "it is damaged: " + "; ".join(str(r[0]) for r in rows[:3])
    return None


def check_indexes(ws: Workspace, repair: bool) -> list[Finding]:
    from llmos._internal.database import remove_database

    findings = []
    for name, what in (("index.db", "traces"), ("memory_index.db", "memory")):
        path = ws.state_dir / name
        check = f"index {name} ({what})"
        problem = _index_problem(path)
        if problem is None:
            findings.append(Finding(check, "ok", "derived from the files; rebuilt when damaged"))
            continue
        if not repair:
            findings.append(
                Finding(check, "problem", f"{path}: {problem}", f"rebuild it from the {what} files")
            )
            continue
        remove_database(path)
        count = _rebuild_index(ws, name)
        findings.append(
            Finding(check, "repaired", f"{path}: {problem}; rebuilt from {count} file(s)")
        )
    return findings


def _rebuild_index(ws: Workspace, name: str) -> int:
    if name == "index.db":
        from llmos._internal.memory.library import TraceLibrary

        with TraceLibrary(ws) as library:
            return library.index.rebuild()[0]
    from llmos._internal.memory.facts import MemoryStore

    with MemoryStore(ws) as store:
        return store.index.rebuild(store.folders())[0]


# What killed processes left ------------------------------------------------------------------
def check_leftovers(ws: Workspace, repair: bool) -> list[Finding]:
    from llmos._internal import recovery

    findings = []
    dead = [p for p in recovery.dead_leases(ws.state_dir) if _lease_is_dead(p)]
    if dead and not repair:
        findings.append(
            Finding(
                "unfinished runs",
                "problem",
                f"{len(dead)} llmos process(es) ended without recording their runs",
                "record each run as crashed from its session log and seal the log",
            )
        )
    elif dead:
        from llmos._internal.engine.settle import settle

        settled = settle(
            ws.state_dir, db_path=ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd
        )
        detail = "; ".join(s.describe() for s in settled) or "nothing left to record"
        findings.append(Finding("unfinished runs", "repaired", detail))
    else:
        findings.append(Finding("unfinished runs", "ok", "no run was left unrecorded"))
    temps = _temp_files(ws)
    if not temps:
        findings.append(Finding("temporary files", "ok", "none left behind"))
    elif not repair:
        findings.append(
            Finding(
                "temporary files",
                "warning",
                f"{len(temps)} half-written file(s) a killed writer left, e.g. {temps[0]}",
                "delete them (only those whose writer is gone or that are an hour old)",
            )
        )
    else:
        removed = recovery.sweep_temp_files(sorted({p.parent for p in temps}))
        findings.append(
            Finding("temporary files", "repaired", f"removed {len(removed)} half-written file(s)")
        )
    return findings


def _lease_is_dead(path: Path) -> bool:
    import fcntl

    try:
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return False
    return True


def _temp_folders(ws: Workspace) -> list[Path]:
    """Where llmos writes with `atomic_write_text` (and a replay writes: the projects'
    working folders, walked whole)."""
    folders = [ws.root, ws.state_dir, ws.plugins_dir, ws.root / "agents", ws.projects_dir]
    for folder in (ws.memories,):
        with contextlib.suppress(OSError):
            folders += [p for p in folder.iterdir() if p.is_dir()]
    for project in ws.project_names():
        base = ws.projects_dir / project
        folders += [base, base / "components", base / "memory" / "facts"]
        folders += [base / "memory" / "insights"]
        for top, _dirs, _files in os.walk(base / "output"):
            folders.append(Path(top))
    return folders


def _temp_files(ws: Workspace) -> list[Path]:
    import time

    from llmos._internal.recovery import TEMP_MAX_AGE_SECS, _writer_alive

    found = []
    now = time.time()
    for folder in _temp_folders(ws):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    old = now - entry.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE_SECS
                    if old or not _writer_alive(entry.name):
                        found.append(Path(entry.path))
    return found


# The workspace itself --------------------------------------------------------------------------
def check_workspace(ws: Workspace, repair: bool) -> list[Finding]:
    if ws.read_only:
        return [
            Finding(
                "workspace",
                "warning",
                f"{ws.root} is read-only: commands that only read work, the others are refused",
                "make it writable to run goals or change anything",
            )
        ]
    try:
        st = os.statvfs(ws.state_dir)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = None
    if free is not None and free < 16 << 20:
        return [
            Finding(
                "workspace",
                "warning",
                f"{ws.root}: only {free // 1024} KiB free on its disk",
                "free some space: a full disk stops runs from being recorded",
            )
        ]
    return [Finding("workspace", "ok", f"{ws.root} is writable")]


CHECKS: list[Check] = [
    check_workspace,
    check_primary_databases,
    check_indexes,
    check_leftovers,
]


def run_checks(ws: Workspace, *, repair: bool, checks: list[Check] | None = None) -> list[Finding]:
    """Every check's findings, repairing as it goes when `repair` (a repair that fails is a
    finding too: the next checks still run)."""
    findings: list[Finding] = []
    for check in checks if checks is not None else CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            findings += check(ws, repair and not ws.read_only)
        except LlmosError as exc:
            findings.append(Finding(name, "problem", exc.message, exc.hint))
        except OSError as exc:
            findings.append(Finding(name, "problem", f"{exc.filename or ''}: {exc.strerror}"))
    return findings
