"""The JSON convention of every command's `--json` (README, "JSON output").

- stdout holds exactly one JSON object (never a bare array) and nothing else; messages for
  a human go to stderr. (`llmos kernel start --json` is a stream: one object per event.)
- A list of records is an object naming the list, with its length:
  `{"traces": [...], "count": 2}`, plus any facts about the list as a whole.
- A record has the same field names wherever it appears (`llmos/_internal/presentation/records.py`);
  a field that refers to another record is named after it (`trace_id`, `run_id`, `job_id`).
- A command that changes one record prints that record as it is after the change
  (`"deleted": true` for one it removed).
- An error is `{"error": ..., "hint": ..., "exit_code": N}` on stdout, and the command
  exits with N, as it would without --json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def print_json(data: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    import typer

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def listing(name: str, items: Sequence[Any], **extra: Any) -> dict[str, Any]:
    """A list of records as the convention has it: `{name: items, "count": n, **extra}`."""
    return {name: list(items), "count": len(items), **extra}


def print_listing(name: str, items: Sequence[Any], **extra: Any) -> None:
    print_json(listing(name, items, **extra))


def error_object(message: str, *, hint: str | None, exit_code: int) -> dict[str, Any]:
    return {"error": message, "hint": hint, "exit_code": exit_code}


def print_error(message: str, *, hint: str | None, exit_code: int) -> None:
    print_json(error_object(message, hint=hint, exit_code=exit_code))
