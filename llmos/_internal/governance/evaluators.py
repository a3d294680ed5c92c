"""Evaluators: scores of a run's steps and of the whole run. They never block anything; a
failing *gate* evaluator only makes the run's trace unfollowable (it is not saved, so
Follower never replays a run that failed it).

Shipped (settings under `governance.evaluators` in policy.yaml; `NAME: false` turns one off):

- `tests_passed` (gate): each verify step scores 1 or 0; the run, the share of its verify
  commands whose last run passed. It passes when every one did (no verify step: no score);
- `change_size`: the files and lines written (Write, Edit, MultiEdit, NotebookEdit); it
  passes within `max_files` / `max_lines`, when they are set;
- `time_vs_history`, `cost_vs_history`: this run's time and cost against the trace learned
  for the goal; they pass at most `max_ratio` (3) times over;
- `model_graded` (off unless `enabled: true`): a model's 0..1 grade of the run, with its own
  small budget (`budget_usd`, `model`); it passes at `min_score` (0.5) or more.

`gate: true|false` changes whether a failure keeps the trace from being saved. Plugins add
evaluators (`@plugin.evaluator`): `function(history)` returns a `Score`, a number, or None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.governance.history import History, Step
from llmos._internal.governance.kinds import command_key

log = logging.getLogger(__name__)


@frozen
class Score:
    """One evaluator's score: `score` in 0..1 where it has one, `passed` where it judges,
    `measures` its raw figures (files, lines, ratio...)."""

    evaluator: str
    score: float | None
    passed: bool | None = None
    detail: str = ""
    measures: Mapping[str, float] = field(default_factory=dict)
    scope: str = "run"  # or "step"
    tool_use_id: str = ""
    gate: bool = False

    @property
    def failed_gate(self) -> bool:
        return self.gate and self.passed is False


@frozen
class RunFacts:
    """What evaluators know of a run besides its steps."""

    duration_secs: float = 0.0
    cost_usd: float = 0.0
    history_secs: float | None = None  # the goal's learned time (its trace), if any
    history_cost_usd: float | None = None
    history_source: str = ""  # which trace


class Evaluator:
    name: str = ""
    gate: bool = False

    def score_step(self, history: History, step: Step) -> Score | None:
        return None

    def score_run(self, history: History, facts: RunFacts) -> Score | None:
        return None


@dataclass
class TestsPassed(Evaluator):
    """Verify steps score 1 or 0; the run, the share of verify commands whose last run passed."""

    __test__ = False  # not a pytest test class, whatever its name
    name: str = "tests_passed"
    gate: bool = True

    def score_step(self, history: History, step: Step) -> Score | None:
        if not step.has("verify"):
            return None
        detail = f"{step.describe()} {'passed' if step.ok else 'failed'}"
        if step.exit_code is not None:
            detail += f" (exit code {step.exit_code})"
        return Score(
            self.name,
            1.0 if step.ok else 0.0,
            step.ok,
            detail,
            scope="step",
            tool_use_id=step.tool_use_id,
            gate=self.gate,
        )

    def score_run(self, history: History, facts: RunFacts) -> Score | None:
        last: dict[str, Step] = {}
        for step in history.steps:
            if step.has("verify"):
                last[command_key(step.command) if step.command else step.tool] = step
        if not last:
            return None
        passed = sum(1 for s in last.values() if s.ok)
        failing = [s.describe() for s in last.values() if not s.ok]
        detail = f"{passed} of {len(last)} verify command(s) passed on their last run"
        if failing:
            detail += "; failing: " + ", ".join(failing[:3])
        measures = {"verify_commands": float(len(last)), "passed": float(passed)}
        score = passed / len(last)
        return Score(self.name, round(score, 4), not failing, detail, measures, gate=self.gate)


@dataclass
class ChangeSize(Evaluator):
    """The files and lines the run wrote, within `max_files` / `max_lines` when they are set."""

    name: str = "change_size"
    gate: bool = False
    max_lines: int | None = None
    max_files: int | None = None

    def score_run(self, history: History, facts: RunFacts) -> Score | None:
        files: set[str] = set()
        lines = 0
        for step in history.steps:
            if not step.ok or step.tool not in ("Write", "Edit", "MultiEdit", "NotebookEdit"):
                continue
            target = step.input.get("file_path") or step.input.get("notebook_path")
            if isinstance(target, str):
                files.add(history.path(target))
            lines += lines_written(step.tool, step.input)
        over = []
        if self.max_lines is not None and lines > self.max_lines:
            over.append(f"{lines} lines > {self.max_lines}")
        if self.max_files is not None and len(files) > self.max_files:
            over.append(f"{len(files)} files > {self.max_files}")
        limited = self.max_lines is not None or self.max_files is not None
        detail = f"{len(files)} file(s), {lines} line(s) written"
        if over:
            detail += " (" + ", ".join(over) + ")"
        measures = {"files": float(len(files)), "lines": float(lines)}
        score = (0.0 if over else 1.0) if limited else None
        return Score(
            self.name, score, not over if limited else None, detail, measures, gate=self.gate
        )


def lines_written(tool: str, tool_input: Mapping[str, Any]) -> int:
    """The lines a file tool's call writes (a Write's content, an Edit's new text)."""

    def count(text: Any) -> int:
        return len(str(text).splitlines()) if text else 0

    if tool == "Write":
        return count(tool_input.get("content"))
    if tool == "Edit":
        return count(tool_input.get("new_string"))
    if tool == "NotebookEdit":
        return count(tool_input.get("new_source"))
    if tool == "MultiEdit":
        edits = tool_input.get("edits")
        if isinstance(edits, list):
            return sum(count(e.get("new_string")) for e in edits if isinstance(e, dict))
    return 0


@dataclass
class AgainstHistory(Evaluator):
    """This run's time or cost against what the goal took when it was learned."""

    name: str = "time_vs_history"
    gate: bool = False
    max_ratio: float = 3.0
    measure: str = "time"

    def score_run(self, history: History, facts: RunFacts) -> Score | None:
        if self.measure == "time":
            now, then, unit = facts.duration_secs, facts.history_secs, "s"
        else:
            now, then, unit = facts.cost_usd, facts.history_cost_usd, "$"
        if then is None or then <= 0:
            return None
        ratio = now / then

        def shown(value: float) -> str:
            return f"{value:.2f} s" if unit == "s" else f"${value:.4f}"

        detail = f"{shown(now)} against {shown(then)} ({ratio:.2f}x) for {facts.history_source}"
        measures = {"ratio": round(ratio, 4), "this": round(now, 6), "history": round(then, 6)}
        score = round(min(1.0, then / now), 4) if now > 0 else 1.0
        return Score(self.name, score, ratio <= self.max_ratio, detail, measures, gate=self.gate)


EvaluatorFunction = Callable[[History], Any]


@dataclass
class PluginEvaluator(Evaluator):
    """A plugin's evaluator: `function(history)` returns a `Score`, a number (0..1) or None.
    One that raises is logged and gives no score."""

    name: str = ""
    function: EvaluatorFunction | None = None
    gate: bool = False

    def score_run(self, history: History, facts: RunFacts) -> Score | None:
        assert self.function is not None
        try:
            result = self.function(history)
        except Exception as exc:
            log.warning("governance evaluator %s raised %s", self.name, exc)
            return None
        if result is None:
            return None
        if isinstance(result, Score):
            return Score(
                self.name,
                result.score,
                result.passed,
                result.detail,
                result.measures,
                gate=self.gate,
            )
        if isinstance(result, int | float) and not isinstance(result, bool):
            return Score(self.name, float(result), None, "", gate=self.gate)
        log.warning("governance evaluator %s returned %r, not a Score", self.name, result)
        return None
