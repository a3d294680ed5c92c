"""Spans of past runs, from their session logs: `llmos sessions export RUN... --otlp`.

The same `SpanBuilder` as a live run, fed the log's lines instead of the bus's events, so a
run exported later has the spans (and, the ids being derived from the run ids, the very
trace) it would have had live. A run is exported with its family: an orchestration with its
subtasks' runs, a subtask with its orchestration, so that every trace arrives whole. A log
with no `run_finished` (a run still going) is skipped: its spans are not final.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.memory.session_log import LOG_SUFFIX, read_session, session_logs
from llmos._internal.telemetry import ids
from llmos._internal.telemetry.content import ContentPolicy
from llmos._internal.telemetry.spans import SpanBuilder, SpanRecord


@dataclass
class RunSpans:
    """The spans of one past run, rebuilt from its session log, or why it is skipped."""

    run_id: str
    parent_run_id: str | None
    trace_id: str  # hex, as backends show it
    spans: list[SpanRecord] = field(default_factory=list)
    skipped: str | None = None  # why the run is not exported

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "trace_id": self.trace_id,
            "spans": len(self.spans),
            "skipped": self.skipped,
        }


def spans_of(records: Iterable[dict[str, Any]], content: ContentPolicy) -> list[SpanRecord]:
    """The spans of one run's records (a session log's lines, in order)."""
    spans: list[SpanRecord] = []
    builder = SpanBuilder(spans.append, content)
    for record in records:
        builder.feed(record)
    builder.finish()
    return spans


def run_spans(path: Path, content: ContentPolicy) -> RunSpans:
    records = read_session(path)
    run_id = path.name.removesuffix(LOG_SUFFIX)
    parent = records[0].get("parent_run_id") if records else None
    result = RunSpans(run_id, parent, f"{ids.trace_id(parent or run_id):032x}")
    if not any(r.get("kind") == "run_finished" for r in records):
        result.skipped = "no run_finished: the run is still going, or its log was cut"
        return result
    result.spans = spans_of(records, content)
    return result


def with_families(chosen: Sequence[Path], folder: Path) -> list[Path]:
    """`chosen` with the runs of their families (parent and subtasks), parents first."""
    parent_of: dict[Path, str | None] = {}
    for path in session_logs(folder):
        parent_of[path] = _parent_run(path)
    roots = {parent_of.get(p) or _parent_run(p) or _run_id(p) for p in chosen}
    family = [p for p in parent_of if _run_id(p) in roots or parent_of[p] in roots]
    family += [p for p in chosen if p not in family]  # a log outside the folder, given by path
    return sorted(set(family), key=lambda p: (parent_of.get(p) is not None, p.name))


def _run_id(path: Path) -> str:
    return path.name.removesuffix(LOG_SUFFIX)


def _parent_run(path: Path) -> str | None:
    """The parent run recorded on the log's first line (read alone: logs can be long)."""
    import json

    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = json.loads(handle.readline() or "{}")
    except (OSError, ValueError):
        return None
    parent = first.get("parent_run_id") if isinstance(first, dict) else None
    return parent if isinstance(parent, str) and parent else None
