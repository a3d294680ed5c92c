"""The run in progress, as its bus tells it: what a front end reports of a run that a signal
ended, when no summary comes back (`llmos run --json`, the REPL)."""

from __future__ import annotations

from pathlib import Path

from llmos._internal.kernel.events import Event, RunFinished, RunStarted


class RunTracker:
    """An event-bus subscriber remembering the run in progress: how it started, and how it
    ended (published even when the run is interrupted, before its bus closes). A replay that
    falls back to Learner is followed by a run of its own: the tracker follows it then."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None

    @property
    def run_id(self) -> str | None:
        return self.started.run_id if self.started is not None else None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started, self.finished = event, None
        elif isinstance(event, RunFinished) and event.run_id == self.run_id:
            self.finished = event

    def summary(self, sessions_dir: Path) -> dict[str, object] | None:
        """The keys of `RunSummary.to_dict()` the two events tell; None before the run ended."""
        started, finished = self.started, self.finished
        if started is None or finished is None:
            return None
        return {
            "run_id": started.run_id,
            "goal": started.goal,
            "mode": started.mode,
            "mode_reason": started.reason,
            "status": finished.status,
            "project": started.project,
            "workdir": started.workdir,
            "model": finished.model or started.model,
            "turns": finished.turns,
            "tool_calls": finished.tool_calls,
            "cost_usd": finished.cost_usd,
            "saved_usd": finished.saved_usd,
            "duration_secs": finished.duration_secs,
            "trace_path": finished.trace_path,
            "session_log": str(sessions_dir / f"{started.run_id}.jsonl"),
            "error": finished.error,
        }
