"""The last step of an orchestration: one model call that writes the answer to the goal from
the subtasks' results.

Its input (the goal and every subtask's goal and result, in plan order) is fingerprinted;
the orchestration trace keeps the fingerprint and the answer, so a later run whose subtasks
replayed to the very same results reuses the answer instead of asking again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from llmos._internal.orchestration.executor import SubtaskResult
from llmos._internal.orchestration.plan import Plan

SYNTHESIS_SYSTEM = """You write the final answer of an llmos orchestration.
The user's goal was split into subtasks, each done by an agent; their reports follow.
Answer the goal directly and completely from these reports: say what was done and what
came out of it (files, results, findings). Do not invent results that no report contains.
Be concise."""

_RESULT_CHARS = 6000  # of each subtask's result handed to the synthesis


def synthesis_prompt(goal: str, plan: Plan, results: Mapping[str, SubtaskResult]) -> str:
    lines = [f"Goal: {goal}", "", "Subtask reports:"]
    for sub in plan.subtasks:
        result = results.get(sub.id)
        text = (result.result if result else "").strip()[:_RESULT_CHARS] or "(no report)"
        lines += ["", f"## {sub.id} [{sub.agent}]: {sub.goal}", text]
    return "\n".join(lines)


def fingerprint(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()
