"""The tools of one run: the plugin tools its project offers, less what its policy denies.

The dispatcher builds a `RunTools` for each run (its project's scope) and hands it to what
decides about a trace's steps (the mode choice's replay plan, the step executor), so they
see the same tools as the run: a plugin tool that is not loaded, or a step
recorded under another major version of its tool, makes a trace ineligible before anything
is replayed. In Learner mode the SDK adapter calls plugin tools through `call`, which keeps
a journal of what each call returned; `with_checks` writes the tool's version and a digest
of its output into the recorded steps, which is what a replay verifies.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.frozen import frozen
from llmos._internal.memory.trace import TraceStep
from llmos._internal.plugins.registry import (
    PluginRegistry,
    ToolResult,
    call_tool,
    output_digest,
    version_refusal,
)
from llmos._internal.text import one_line

if TYPE_CHECKING:
    from llmos._internal.agents.catalog import AgentCatalog
    from llmos._internal.kernel.hooks import HookCallback, HookInput, HookOutput
    from llmos._internal.kernel.run_context import RunContext
    from llmos._internal.workspace import Workspace

MCP_PREFIX = "mcp__"


class ReplayRefused(Exception):
    """A recorded plugin call cannot be replayed (missing tool, other version, other output)."""


@frozen
class _Call:
    """One plugin tool call of a Learner run, as the journal keeps it for its recorded step."""

    tool: str
    arguments: str  # canonical JSON
    ok: bool
    digest: str
    schema_problem: str | None = None


def _nothing_denied(tool_name: str) -> bool:
    return False


@dataclass
class RunTools:
    """The tools of one run: its project's plugin tools, less what its policy denies."""

    registry: PluginRegistry = field(default_factory=PluginRegistry)
    # Whether the run's security policy denies a tool by name (projects/scope.py).
    denied: Callable[[str], bool] = _nothing_denied
    workdir: Path | None = None
    _journal: list[_Call] = field(default_factory=list, repr=False)

    def denies(self, tool_name: str) -> bool:
        return self.denied(tool_name)

    def offered(self, builtin: Sequence[str]) -> tuple[str, ...]:
        """The built-in tools a Learner run offers: all but those the policy denies."""
        return tuple(name for name in builtin if not self.denies(name))

    def plugin_tool_names(self) -> list[str]:
        return [tool.full_name for tool in self.registry.tools()]

    # Learner -------------------------------------------------------------------------------
    def call(self, full_name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Run a plugin tool for the model, and remember what it returned."""
        tool = self.registry.tool(full_name)
        if tool is None:
            return ToolResult(False, f"{full_name} is not available in this run")
        result = call_tool(tool, arguments, self.workdir)
        call = _Call(
            full_name, _canonical(arguments), result.ok, _digest(result), result.schema_problem
        )
        self._journal.append(call)
        return result

    def kind_of(self, full_name: str) -> str | None:
        """The step type a plugin tool declared (None: not a plugin tool of this run)."""
        tool = self.registry.tool(full_name)
        return tool.kind if tool is not None else None

    def output_check(self, full_name: str, arguments: Mapping[str, Any]) -> tuple[bool, str] | None:
        """Whether the latest call of a tool with these arguments returned what its schema
        declares (and what was wrong), or None when the tool declares no output schema."""
        tool = self.registry.tool(full_name)
        if tool is None or tool.output_schema is None:
            return None
        wanted = _canonical(arguments)
        for call in reversed(self._journal):
            if call.tool == full_name and call.arguments == wanted:
                return call.schema_problem is None, call.schema_problem or ""
        return None

    def with_checks(self, steps: Sequence[TraceStep]) -> tuple[TraceStep, ...]:
        """`steps` with each plugin call's tool version and output digest in its checks.

        A call the tool answered with an error is recorded as failed (replay skips it)."""
        pending = list(self._journal)
        out = []
        for step in steps:
            tool = self.registry.tool(step.tool)
            if tool is None:
                out.append(step)
                continue
            call = _take(pending, step)
            checks = {**step.checks, "tool_version": tool.version}
            outcome = step.outcome
            if call is not None:
                if not call.ok:
                    outcome = "error"
                elif tool.check_output:
                    checks["output_sha256"] = call.digest
            out.append(dataclasses.replace(step, checks=checks, outcome=outcome))
        return tuple(out)

    # Follower ------------------------------------------------------------------------------
    def replay_problem(self, step: TraceStep) -> str | None:
        """Why this recorded plugin call cannot be replayed here, or None."""
        tool = self.registry.tool(step.tool)
        if tool is None:
            plugin = step.tool.removeprefix(MCP_PREFIX + "llmos_").split("__")[0]
            if plugin in self.registry.names():
                return f"the {plugin} plugin has no tool {step.tool} available in this run"
            return f"the {plugin} plugin is not loaded (see `llmos plugins list`)"
        return version_refusal(step.checks.get("tool_version"), tool)

    def replay(self, step: TraceStep, workdir: Path) -> str:
        """Call the tool again as recorded and check it; raise ReplayRefused otherwise."""
        problem = self.replay_problem(step)
        if problem:
            raise ReplayRefused(problem)
        tool = self.registry.tool(step.tool)
        assert tool is not None  # replay_problem says so
        result = call_tool(tool, step.input, workdir)
        if not result.ok:
            raise ReplayRefused(f"the tool failed: {one_line(result.text, 200)}")
        expected = step.checks.get("output_sha256")
        if expected and output_digest(result.text) != expected:
            raise ReplayRefused(
                f"{tool.plugin}.{tool.name} returned something else than when the goal was "
                f"learned ({one_line(result.text, 80)})"
            )
        return one_line(result.text, 160) or "done"


def _canonical(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)


def _digest(result: ToolResult) -> str:
    return output_digest(result.text)


def _take(pending: list[_Call], step: TraceStep) -> _Call | None:
    """The journal entry of `step`: same tool and input, else the tool's next call."""
    same_tool = [c for c in pending if c.tool == step.tool]
    if not same_tool:
        return None
    wanted = _canonical(step.input)
    call = next((c for c in same_tool if c.arguments == wanted), same_tool[0])
    pending.remove(call)
    return call


# Learner guard ---------------------------------------------------------------------------------
def tool_policy_hook(ctx: RunContext, tools: RunTools) -> HookCallback:
    """A PreToolUse guard for MCP tools: the by-name rule with this run's plugin tools, so a
    plugin tool its project does not offer is denied even if a call names it."""
    # Learner only: replay plans, which import this module, stay light.
    from llmos._internal.kernel.hooks import deny
    from llmos._internal.security.policy import check_tool_name

    async def guard(hook_input: HookInput) -> HookOutput:
        name = str(hook_input.get("tool_name", ""))
        decision = check_tool_name(name, plugin_tools=tools.plugin_tool_names())
        if decision.allowed:
            return {}
        ctx.refuse(
            str(hook_input.get("tool_use_id", "")),
            name,
            guard="tool-policy",
            rule=decision.rule,
            reason=decision.reason,
        )
        return deny(f"llmos tool policy ({decision.rule}): {decision.reason}")

    return guard


def run_catalog(ws: Workspace, project: str | None, tools: RunTools | None) -> AgentCatalog:
    """The agents a run in `project` may use: its agent files and the agents of the plugins
    of its `tools` (None: no plugins' agents)."""
    from llmos._internal.agents.catalog import load_catalog

    return load_catalog(ws, project, plugin_agents=tools.registry.agents() if tools else ())
