"""Which steps of a trace replay runs, which it skips, and whether it can replay it at all."""

from __future__ import annotations

from typing import Literal

from llmos._internal.frozen import frozen
from llmos._internal.memory.step_kinds import DELEGATION_TOOLS, READ_ONLY_TOOLS, REPLAYED_TOOLS
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.plugins.run_tools import RunTools
from llmos._internal.plugins.types import is_plugin_tool_name

_NOT_REPLAYABLE = {
    "WebFetch": "it fetched a web page whose content the model used; replay cannot reproduce it",
}
# llmos plugin tools (mcp__llmos_<plugin>__<tool>) are replayed by calling their function;
# any other MCP tool belongs to a server llmos does not run, so it cannot be replayed.
_OTHER_MCP = "not an llmos plugin tool but another MCP tool: llmos cannot replay this tool"

Action = Literal["run", "skip"]


@frozen
class PlannedStep:
    """One step of a trace, and whether replay runs it or skips it (and why)."""

    number: int
    step: TraceStep
    action: Action
    why: str = ""


@frozen
class ReplayPlan:
    """What replaying a trace would do, step by step, or why it cannot be replayed."""

    steps: tuple[PlannedStep, ...]
    eligible: bool
    reason: str = ""

    @property
    def to_run(self) -> list[PlannedStep]:
        return [p for p in self.steps if p.action == "run"]

    def files_touched(self) -> list[str]:
        paths = []
        for planned in self.to_run:
            value = planned.step.input.get("file_path") or planned.step.input.get("notebook_path")
            if isinstance(value, str) and value not in paths:
                paths.append(value)
        return paths

    def commands(self) -> list[str]:
        return [str(p.step.input.get("command", "")) for p in self.to_run if p.step.tool == "Bash"]


def plan_replay(trace: Trace, tools: RunTools | None = None) -> ReplayPlan:
    """The plan for `trace` with the run's `tools` (llmos/_internal/plugins/run_tools.py). Without
    them (outside a run: `traces show`), plugin steps cannot be judged: they are planned to
    run and are checked when replayed."""
    planned: list[PlannedStep] = []
    for number, step in enumerate(trace.steps, start=1):
        if step.outcome == "error":
            planned.append(PlannedStep(number, step, "skip", "recorded as failed"))
        elif step.tool in READ_ONLY_TOOLS:
            planned.append(PlannedStep(number, step, "skip", "read-only"))
        elif step.tool in DELEGATION_TOOLS:
            planned.append(PlannedStep(number, step, "skip", "delegation; its steps are replayed"))
        elif step.tool in REPLAYED_TOOLS or is_plugin_tool_name(step.tool):
            problem = _unreplayable_input(step, tools)
            if problem:
                return ReplayPlan(tuple(planned), False, f"step {number} ({step.tool}): {problem}")
            why = "plugin tool" if is_plugin_tool_name(step.tool) else ""
            planned.append(PlannedStep(number, step, "run", why))
        else:
            other = _OTHER_MCP if step.tool.startswith("mcp__") else "llmos cannot replay this tool"
            why = _NOT_REPLAYABLE.get(step.tool, other)
            return ReplayPlan(tuple(planned), False, f"step {number} ({step.tool}): {why}")
    if not any(p.action == "run" for p in planned) and not trace.result:
        return ReplayPlan(tuple(planned), False, "it has no step to replay and no recorded answer")
    return ReplayPlan(tuple(planned), True)


def _unreplayable_input(step: TraceStep, tools: RunTools | None) -> str:
    if tools is not None and tools.denies(step.tool):
        return "the security policy denies this tool (a `deny: tools:` entry of policy.yaml)"
    if is_plugin_tool_name(step.tool):
        return (tools.replay_problem(step) or "") if tools is not None else ""
    if step.tool == "Bash":
        if not isinstance(step.input.get("command"), str):
            return "no command recorded"
        if step.input.get("run_in_background"):
            return "it ran in the background, so its effects cannot be checked"
    elif step.tool == "NotebookEdit":
        if not isinstance(step.input.get("notebook_path"), str):
            return "no notebook_path recorded"
    elif not isinstance(step.input.get("file_path"), str):
        return "no file_path recorded"
    return ""
