"""Trace and span ids derived from run ids, so every copy of a run's spans is the same.

A run's spans are made twice over in the life of a workspace, live and perhaps again from its
session log (`llmos sessions export`); an orchestration's subtasks are runs with buses of
their own, in the same process or not. Ids that follow from what the session log records
(the run id, its parent's, a tool call's id) make all of them agree without anyone passing
ids around: a subtask's span finds its parent's, a backfill sends the same trace again (a
backend keeps one), and the W3C `traceparent` given to the Claude Code CLI is known before
any OpenTelemetry code is loaded.
"""

from __future__ import annotations

import hashlib


def _number(label: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(label.encode()).digest()[:size], "big")
    return value or 1  # zero is the invalid id


def trace_id(root_run_id: str) -> int:
    """The 128-bit trace id of a run and everything under it (`root_run_id`: the run that
    started it all: an orchestration for its subtasks, else the run itself)."""
    return _number(f"llmos-trace\0{root_run_id}", 16)


def span_id(run_id: str, key: str) -> int:
    """The 64-bit id of one span of `run_id`: "run" for the run itself, "tool:<call id>"..."""
    return _number(f"llmos-span\0{run_id}\0{key}", 8)


def traceparent(root_run_id: str, run_id: str) -> str:
    """The W3C trace context naming the run's own span, sampled: the value of TRACEPARENT."""
    return f"00-{trace_id(root_run_id):032x}-{span_id(run_id, 'run'):016x}-01"
