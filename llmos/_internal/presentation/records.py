"""Each kind of record as every command's `--json` and the web console show it: one function
per kind, so the same record has the same field names wherever it appears (README, "JSON
output").

A record's own identifier is `id` (a trace, a memory item, a scheduled job), `name` (a
project, an agent, a plugin) or `run_id` (a run: runs are named by `run_id` everywhere,
in the ledger, the session logs and the events). A field that refers to another record is
named after that record: `trace_id`, `run_id`, `job_id`, `parent_run_id`.
A trace's other fields are its front matter's (`goal_text`, `usage_count`,
`success_rating`, `estimated_cost_usd`, `last_used`...).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.memory.memory_index import IndexedItem
    from llmos._internal.memory.trace_index import IndexedTrace


def trace_record(entry: IndexedTrace, path: Path) -> dict[str, Any]:
    """A trace as a listing shows it (`traces show --json` adds its whole front matter)."""
    return {
        "id": entry.signature,
        "goal_text": entry.goal_text,
        "project": entry.project,
        "mode": entry.mode,
        "success_rating": entry.success_rating,
        "usage_count": entry.usage_count,
        "estimated_cost_usd": entry.estimated_cost_usd,
        "last_used": entry.last_used,
        "step_count": entry.step_count,
        "slot_values": list(entry.slot_values),
        "path": str(path),
    }


def memory_record(entry: IndexedItem, **extra: Any) -> dict[str, Any]:
    """A fact or an insight."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "project": entry.project,
        "tags": list(entry.tags),
        "created_at": entry.created_at,
        "source": entry.source,
        "distilled": entry.distilled,
        "path": str(entry.path),
        "text": entry.text,
        **extra,
    }


def session_record(path: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A run as its session log tells it, from its first and last events (`sessions list`)."""
    none: dict[str, Any] = {}
    started = next((e for e in events if e.get("kind") == "run_started"), none)
    finished = next((e for e in reversed(events) if e.get("kind") == "run_finished"), none)
    return {
        "run_id": path.stem,
        "parent_run_id": events[0].get("parent_run_id") if events else None,
        "started_at": events[0].get("at") if events else None,
        "goal": started.get("goal", ""),
        "mode": started.get("mode", ""),
        "project": started.get("project", ""),
        "status": finished.get("status", "unfinished"),
        "cost_usd": finished.get("cost_usd", 0.0),
        "duration_secs": finished.get("duration_secs"),
        "events": len(events),
        "path": str(path),
    }
