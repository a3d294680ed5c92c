"""What the console shows and does, as plain data: the same stores and functions the command
line uses (session logs, the ledger, the trace library, the trust store, memory, the
schedule, the approvals inbox), never their tables re-queried. The pages (`pages.py`) and
the JSON API (`app.py`) are both made from these dicts.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

from llmos._internal.errors import LlmosError, UsageError
from llmos._internal.presentation.records import memory_record, session_record, trace_record
from llmos._internal.presentation.timeline import event_line
from llmos._internal.security.approval import EDITED_FIELD
from llmos._internal.security.approval_inbox import ApprovalInbox, Question
from llmos._internal.workspace import Workspace


class NotFound(LlmosError):
    """Nothing of that id (a 404)."""


# Approvals ------------------------------------------------------------------------------------
def approvals(ws: Workspace) -> dict[str, Any]:
    with ApprovalInbox(ws.state_dir) as inbox:
        pending, recent = inbox.pending(), inbox.recent(limit=20)
    goals = _goals_of({q.run_id for q in pending + recent}, ws)
    return {
        "pending": [_question(q, goals) for q in pending],
        "recent": [_question(q, goals) for q in recent],
        "count": len(pending),
    }


def _question(q: Question, goals: dict[str, str]) -> dict[str, Any]:
    field = EDITED_FIELD.get(q.tool)
    editable = field if field and isinstance(q.input.get(field), str) else None
    return {**q.to_dict(), "goal": goals.get(q.run_id, ""), "edited_field": editable}


def answer(
    ws: Workspace, question_id: int, decision: str, *, new_input: Any, reason: str, by: str
) -> dict[str, Any]:
    with ApprovalInbox(ws.state_dir) as inbox:
        question = inbox.answer(question_id, decision, new_input=new_input, reason=reason, by=by)
    return question.to_dict()


def modified_input(ws: Workspace, question_id: int, form: dict[str, str]) -> dict[str, Any]:
    """The changed input a form gives: its main field edited (a Bash call's command), or
    the whole input as JSON."""
    import json

    with ApprovalInbox(ws.state_dir) as inbox:
        question = inbox.get(question_id)
    field = form.get("field") or ""
    if field and field in question.input and "value" in form:
        return {**question.input, field: form["value"]}
    try:
        value = json.loads(form.get("input", ""))
    except ValueError as exc:
        raise UsageError(f"the changed input is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("the changed input must be a JSON object")
    return value


# Runs -----------------------------------------------------------------------------------------
def runs(ws: Workspace, *, limit: int = 50) -> dict[str, Any]:
    """The latest runs, newest first: goal, mode, status (running for a live one), cost,
    money saved, time, project."""
    from llmos._internal.memory.session_log import read_session, session_logs
    from llmos._internal.recovery import live_runs

    live = live_runs(ws.state_dir)
    saved = _saved_by_run(ws, limit * 4)
    rows = []
    for path in session_logs(ws.sessions_dir)[:limit]:
        try:
            run = session_record(path, read_session(path))
        except OSError as exc:
            run = {**session_record(path, []), "status": f"unreadable: {exc.strerror}"}
        if run["status"] == "unfinished" and run["run_id"] in live:
            run["status"] = "running"
        run["saved_usd"] = saved.get(run["run_id"], 0.0)
        run.pop("path", None)
        rows.append(run)
    return {"runs": rows, "count": len(rows)}


def _saved_by_run(ws: Workspace, limit: int) -> dict[str, float]:
    economy = _economy(ws)
    try:
        return {r.run_id: r.saved_usd for r in economy.runs(limit=limit)}
    finally:
        economy.close()


def _goals_of(run_ids: set[str], ws: Workspace) -> dict[str, str]:
    from llmos._internal.memory.session_log import find_session, read_session

    goals = {}
    for run_id in run_ids:
        try:
            events = read_session(find_session(ws.sessions_dir, run_id))
        except (LlmosError, OSError):
            continue
        started = next((e for e in events if e.get("kind") == "run_started"), {})
        goals[run_id] = str(started.get("goal", ""))
    return goals


def run_detail(ws: Workspace, run_id: str) -> dict[str, Any]:
    """A run: its summary, its timeline (each event with a label and a line, as `sessions
    show` prints it), its approvals, the trace it used or saved, and whether it can be
    interrupted."""
    from llmos._internal.memory.session_log import find_session, read_session, verify_session

    try:
        path = find_session(ws.sessions_dir, run_id)
    except LlmosError as exc:
        raise NotFound(exc.message) from None
    events = read_session(path)
    info = session_record(path, events)
    info.pop("path", None)
    start = float(events[0]["at"]) if events else 0.0
    timeline = []
    for event in events:
        line = event_line(event)
        if line is None:
            continue
        timeline.append(
            {
                "offset_secs": round(float(event.get("at") or start) - start, 3),
                "kind": event.get("kind"),
                "label": line[0],
                "text": line[1],
                "allowed": event.get("allowed"),
                "rule": event.get("rule"),
            }
        )
    none: dict[str, Any] = {}
    finished = next((e for e in reversed(events) if e.get("kind") == "run_finished"), none)
    record = _ledger_row(ws, info["run_id"])
    trace_path = finished.get("trace_path") or (record or {}).get("trace_path")
    live = live_process(ws, info["run_id"]) if not finished else None
    if live is not None:
        info["status"] = "running"
    with ApprovalInbox(ws.state_dir) as inbox:
        asked = [q.to_dict() for q in inbox.of_run(info["run_id"])]
    check = verify_session(path)
    return {
        **info,
        "saved_usd": (record or {}).get("saved_usd", 0.0),
        "error": finished.get("error") or (record or {}).get("error"),
        "trace_id": Path(trace_path).stem if trace_path else None,
        "timeline": timeline,
        "approvals": asked,
        "integrity": check.status,
        "interruptible": live is not None,
        "pid": live,
    }


def _ledger_row(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    economy = _economy(ws)
    try:
        record = economy.run(run_id)
    finally:
        economy.close()
    return None if record is None else dict(record.__dict__)


def live_process(ws: Workspace, run_id: str) -> int | None:
    """The pid of the process running `run_id` now, if it truly is and it can be
    interrupted: its lease is held (so the pid is that process's, not a recycled one), and
    it is an `llmos run` or the kernel (which interrupts one scheduled run on request).
    A gateway conversation is not offered: stopping the gateway is not stopping a run."""
    from llmos._internal.recovery import live_runs

    pid = live_runs(ws.state_dir).get(run_id)
    if pid is None:
        return None
    kind = _process_kind(pid)
    if kind == "run":
        return pid
    if kind == "kernel":
        from llmos._internal.kernel.process import kernel_state

        return pid if kernel_state(ws).pid == pid else None
    return None


def _process_kind(pid: int) -> str | None:
    """`run`, `kernel` (kernel start) or `gateway` for an llmos process, by its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode("utf-8", "replace") for a in argv if a]
    for kind in ("kernel", "gateway", "run"):
        if kind in words:
            return kind
    return None


def interrupt(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Interrupt a run in progress, as Ctrl-C would (the agent interrupted, the run charged
    and recorded as interrupted): SIGINT to its `llmos run`, or to the kernel a request for
    that run alone (the kernel goes on)."""
    pid = live_process(ws, run_id)
    if pid is None:
        raise UsageError(
            f"run {run_id} is not running in a process that can be interrupted",
            hint="It has finished, or it is a gateway conversation (stopping the gateway "
            "stops it).",
        )
    if _process_kind(pid) == "kernel":
        from llmos._internal.kernel.process import request_interrupt

        request_interrupt(ws, run_id, pid)
    else:
        os.kill(pid, signal.SIGINT)
    return {"run_id": run_id, "pid": pid, "interrupted": True}


# Traces ---------------------------------------------------------------------------------------
def traces(ws: Workspace, *, search: str | None = None, limit: int = 100) -> dict[str, Any]:
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.security.trust import TrustStore

    library = TraceLibrary(ws)
    with library:
        entries = library.listing(search=search or None, limit=limit)
        items = []
        with TrustStore.of(ws) as store:
            for entry in entries:
                record = trace_record(entry, library.path_of(entry))
                try:
                    record["trust"] = store.check(library.load(entry)).label
                except LlmosError:
                    record["trust"] = "unreadable"
                record.pop("path", None)
                record["saved_usd"] = 0.0
                items.append(record)
    saved = _saved_by_trace(ws)
    for item in items:
        item["saved_usd"] = round(saved.get(item["id"], 0.0), 6)
    return {"traces": items, "count": len(items)}


def _saved_by_trace(ws: Workspace) -> dict[str, float]:
    economy = _economy(ws)
    try:
        rows = economy.runs(limit=10**6)
    finally:
        economy.close()
    saved: dict[str, float] = defaultdict(float)
    for row in rows:
        if row.trace_path and row.saved_usd:
            saved[Path(row.trace_path).stem] += row.saved_usd
    return saved


def trace_detail(ws: Workspace, trace_id: str) -> dict[str, Any]:
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.modes.trust_gate import plan_lines, trust_of
    from llmos._internal.replay.plan import plan_replay

    library = TraceLibrary(ws)
    with library:
        try:
            entry = library.resolve(trace_id)
        except LlmosError as exc:
            raise NotFound(exc.message) from None
        trace = library.load(entry)
    plan = plan_replay(trace)
    trust = trust_of(ws, trace)
    return {
        "id": entry.signature,
        "goal_text": trace.goal_text,
        "mode": trace.mode,
        "project": trace.project,
        "success_rating": trace.success_rating,
        "usage_count": trace.usage_count,
        "estimated_cost_usd": trace.estimated_cost_usd,
        "last_used": trace.last_used,
        "template": trace.template.render(),
        "slots": [{"kind": s.kind, "value": s.value} for s in trace.slots],
        "aliases": [t.render() for t in trace.alias_templates()],
        "replayable": plan.eligible,
        "not_replayable_because": plan.reason or None,
        "trusted": trust.trusted,
        "trust": trust.label,
        "trust_explained": trust.explain(),
        "plan": plan_lines(plan),
        "steps": [
            {"tool": s.tool, "input": s.input, "outcome": s.outcome, "summary": s.summary}
            for s in trace.steps
        ],
        "result": trace.result,
    }


def trust_trace(ws: Workspace, trace_id: str, *, by: str) -> dict[str, Any]:
    """Approve an imported trace (`llmos traces trust`): its plan was shown on its page."""
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.security.trust import TrustStore

    library = TraceLibrary(ws)
    with library:
        entry = library.resolve(trace_id)
        trace = library.load(entry)
    with TrustStore.of(ws) as store:
        state = store.check(trace)
        if not state.trusted:
            state = store.approve(trace, by=by)
    return {"id": entry.signature, "trusted": state.trusted, "trust": state.explain()}


def delete_trace(ws: Workspace, trace_id: str) -> dict[str, Any]:
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.security.trust import TrustStore

    library = TraceLibrary(ws)
    with library:
        entry = library.resolve_any(trace_id)
        library.remove(entry)
    with TrustStore.of(ws) as store:
        store.forget(entry.signature)
    return {"id": entry.signature, "deleted": True}


# Budget ---------------------------------------------------------------------------------------
def budget(ws: Workspace, *, days: int = 14) -> dict[str, Any]:
    """The balance, and spend and savings per day, per project and per mode (the ledger)."""
    economy = _economy(ws)
    try:
        balance = economy.balance
        rows = economy.runs(limit=10**6)
    finally:
        economy.close()
    today = dt.date.today()
    first = today - dt.timedelta(days=days - 1)
    per_day = {(first + dt.timedelta(d)).isoformat(): [0.0, 0.0] for d in range(days)}
    per_project: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    per_mode: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        day = dt.date.fromtimestamp(row.started_at).isoformat()
        for bucket in (per_day.get(day), per_project[row.project], per_mode[row.mode]):
            if bucket is not None:
                bucket[0] += row.cost_usd
                bucket[1] += row.saved_usd

    def listing(table: dict[str, list[float]], key: str) -> list[dict[str, Any]]:
        return [
            {key: name, "spent_usd": round(v[0], 6), "saved_usd": round(v[1], 6)}
            for name, v in table.items()
        ]

    return {
        "balance_usd": round(balance, 6),
        "per_day": listing(per_day, "day"),
        "per_project": sorted(listing(per_project, "project"), key=lambda r: -r["spent_usd"]),
        "per_mode": sorted(listing(per_mode, "mode"), key=lambda r: -r["spent_usd"]),
    }


def _economy(ws: Workspace) -> Any:
    from llmos._internal.kernel.economy import TokenEconomy

    return TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)


# Memory ---------------------------------------------------------------------------------------
def memory(ws: Workspace, *, search: str | None = None, limit: int = 100) -> dict[str, Any]:
    from llmos._internal.memory.facts import MemoryStore

    with MemoryStore(ws) as store:
        if search:
            found = store.search(search, projects=None, limit=limit)
            items = [memory_record(s.item, score=round(s.score, 3)) for s in found]
        else:
            items = [memory_record(e) for e in store.listing(projects=None, limit=limit)]
    for item in items:
        item.pop("path", None)
    return {"items": items, "count": len(items)}


def add_fact(ws: Workspace, text: str, *, project: str | None) -> dict[str, Any]:
    from llmos._internal.memory.facts import MemoryStore

    if not text.strip():
        raise UsageError("a fact needs some text")
    if project:
        from llmos._internal.projects.store import require_project

        require_project(ws, project)
    with MemoryStore(ws) as store:
        item, _ = store.add_fact(text.strip(), project=project or None, tags=[])
        record = memory_record(store.resolve(item.id, project=project or None))
    record.pop("path", None)
    return record


def remove_memory(ws: Workspace, item_id: str, *, project: str | None) -> dict[str, Any]:
    from llmos._internal.memory.facts import MemoryStore

    with MemoryStore(ws) as store:
        entry = store.resolve(item_id, project=project or None)
        store.remove(entry)
    return {"id": entry.id, "deleted": True}


# Schedule -------------------------------------------------------------------------------------
def schedule(ws: Workspace) -> dict[str, Any]:
    from llmos._internal.kernel.jobs import JobStore
    from llmos._internal.kernel.process import kernel_state, schedule_db

    with JobStore(schedule_db(ws)) as store:
        jobs = [job.to_dict() for job in store.jobs()]
    return {"jobs": jobs, "count": len(jobs), "kernel": kernel_state(ws).to_dict()}


def pause_job(ws: Workspace, job_id: str, *, paused: bool) -> dict[str, Any]:
    import time

    from llmos._internal.kernel.jobs import JobStore
    from llmos._internal.kernel.process import schedule_db

    with JobStore(schedule_db(ws)) as store:
        job = store.pause(job_id) if paused else store.resume(job_id, now=time.time())
    return dict(job.to_dict())
