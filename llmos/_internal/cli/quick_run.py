"""`llmos run GOAL` read without typer, whose import alone is a tenth of a replay's time.

Only the command lines people and scripts type most are read here: one goal, with `--json`,
`--yes`/`-y`, `--dry-run`, and `--mode`/`-m`, `--project`/`-p`, `--model`, `--trace`/`-t`
each followed by its value. Anything else (another option, `--help`, `--`, `--name=value`,
short options run together, an option given twice, a value or a goal that starts with `-`,
a second goal, a mode that is not one) is left to typer (`app.py`), which reads every form
and says what is wrong. tests/test_quick_run.py holds this reader to typer's: each command
line read here, typer reads as the same options.
"""

from __future__ import annotations

from typing import Any

from llmos._internal.cli.run_goal import RunOptions
from llmos._internal.engine.types import MODES

_FLAGS = {"--json": "as_json", "--yes": "yes", "-y": "yes", "--dry-run": "dry_run"}
_WITH_VALUE = {
    "--mode": "mode",
    "-m": "mode",
    "--project": "project",
    "-p": "project",
    "--model": "model",
    "--trace": "trace",
    "-t": "trace",
}


def read_run(args: list[str]) -> RunOptions | None:
    """The options of `llmos run ARGS`, or None when typer must read them."""
    goal: str | None = None
    options: dict[str, Any] = {}
    words = iter(args)
    for word in words:
        name = _FLAGS.get(word) or _WITH_VALUE.get(word)
        if name is None:
            if word.startswith("-") or goal is not None:
                return None
            goal = word
            continue
        if name in options:
            return None
        if word in _FLAGS:
            options[name] = True
            continue
        value = next(words, None)
        if value is None or value.startswith("-"):
            return None
        options[name] = value
    if goal is None or options.get("mode", "auto") not in MODES:
        return None
    return RunOptions(goal=goal, **options)
