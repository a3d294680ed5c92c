"""The loaded plugins: their tools by MCP name, their event hooks and agents, and the
plugins that failed to load. Also how a tool is called, and which recorded versions of a
tool a replay may trust."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from llmos._internal.agents.spec import AgentSpec
from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import Event
from llmos._internal.plugins.schema import bind
from llmos._internal.plugins.types import EventHook, Plugin, PluginError, PluginTool
from llmos._internal.plugins.types import parse_version as parse_version

if TYPE_CHECKING:
    from llmos._internal.kernel.bus import Handler


@frozen
class LoadedPlugin:
    """A plugin that loaded, and where it came from."""

    plugin: Plugin
    source: str  # the file, or the entry point and its distribution


@frozen
class PluginFailure:
    """A plugin that could not be loaded, and why (`llmos plugins list` shows it)."""

    source: str
    error: str


@frozen
class ToolResult:
    """What calling a plugin tool gave: its output as text, or what went wrong."""

    ok: bool
    text: str
    schema_problem: str | None = None  # the output did not match the tool's declared schema


class PluginRegistry:
    def __init__(
        self,
        plugins: Sequence[LoadedPlugin] = (),
        failures: Sequence[PluginFailure] = (),
        *,
        allow_tool: Callable[[str], bool] | None = None,
    ) -> None:
        self.plugins = tuple(plugins)
        self.failures = tuple(failures)
        self._allow = allow_tool
        self._tools = {
            t.full_name: t
            for p in self.plugins
            for t in p.plugin.tools
            if allow_tool is None or allow_tool(t.full_name)
        }

    @classmethod
    def of(cls, loaded: Sequence[LoadedPlugin], failures: Sequence[PluginFailure]) -> Self:
        """A registry; a plugin whose name is already taken is a failure, not a replacement."""
        kept: dict[str, LoadedPlugin] = {}
        problems = list(failures)
        for item in loaded:
            first = kept.get(item.plugin.name)
            if first is None:
                kept[item.plugin.name] = item
            elif first.plugin is not item.plugin:
                problems.append(
                    PluginFailure(
                        item.source,
                        f"PluginError: a plugin named {item.plugin.name} is already loaded "
                        f"from {first.source}",
                    )
                )
        return cls(list(kept.values()), problems)

    def restricted(
        self, *, plugins: Collection[str] | None, denied: Callable[[str], bool]
    ) -> PluginRegistry:
        """This registry limited to `plugins` (None: all), without the tools `denied` names."""
        kept = [p for p in self.plugins if plugins is None or p.plugin.name in plugins]
        return PluginRegistry(kept, self.failures, allow_tool=lambda name: not denied(name))

    def names(self) -> list[str]:
        return [p.plugin.name for p in self.plugins]

    def tools(self) -> list[PluginTool]:
        return list(self._tools.values())

    def tool(self, full_name: str) -> PluginTool | None:
        return self._tools.get(full_name)

    def hooks(self) -> list[EventHook]:
        return [hook for p in self.plugins for hook in p.plugin.hooks]

    def agents(self) -> list[AgentSpec]:
        """Every plugin's agents; plugin tools this registry leaves out are left out of them."""
        agents = []
        for p in self.plugins:
            for spec in p.plugin.agents:
                if spec.tools is not None:
                    kept = tuple(
                        t for t in spec.tools if not t.startswith("mcp__") or t in self._tools
                    )
                    spec = dataclasses.replace(spec, tools=kept)
                agents.append(spec)
        return agents

    def bus_subscribers(self) -> list[tuple[str, Handler]]:
        """The plugins' event hooks as event-bus subscribers, each filtered to its kinds."""
        return [(f"plugin:{hook.plugin}.{hook.name}", _subscriber(hook)) for hook in self.hooks()]


def _subscriber(hook: EventHook) -> Handler:
    def wanted(event: Event) -> bool:
        return not hook.kinds or event.kind in hook.kinds

    if inspect.iscoroutinefunction(hook.handler):

        async def handle_async(event: Event) -> None:
            if wanted(event):
                await hook.handler(event)

        return handle_async

    def handle(event: Event) -> None:
        if wanted(event):
            hook.handler(event)

    return handle


# Calling a tool ------------------------------------------------------------------------------
def call_tool(tool: PluginTool, arguments: Mapping[str, Any], workdir: Path | None) -> ToolResult:
    """Run one tool call. A tool that raises gives an error result (its message), never a crash."""
    try:
        kwargs = bind(
            tool.function,
            tool.input_schema,
            arguments,
            workdir=workdir,
            wants_workdir=tool.wants_workdir,
        )
        text = render_output(tool.function(**kwargs))
    except (Exception, SystemExit) as exc:
        return ToolResult(False, f"{type(exc).__name__}: {exc}")
    problem = output_problem(tool, text)
    if problem is not None:
        return ToolResult(False, f"the tool's output does not match its schema: {problem}", problem)
    return ToolResult(True, text)


def output_problem(tool: PluginTool, text: str) -> str | None:
    """What is wrong with a tool's output against its declared schema, or None."""
    if tool.output_schema is None:
        return None
    from llmos._internal.governance.schemas import output_value, validate

    problems = validate(tool.output_schema, output_value(text, tool.output_schema))
    return "; ".join(problems) or None


def render_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "done"
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def output_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def version_refusal(recorded: Any, tool: PluginTool) -> str | None:
    """Why a call recorded under version `recorded` must not be replayed with `tool`, or None.

    Semantic versioning: a new major version may change what the tool does, so the recorded
    call only stands for versions with the same major (and, below 1.0, the same minor)."""
    label = f"{tool.plugin}.{tool.name}"
    if not isinstance(recorded, str) or not recorded:
        return f"the trace does not record which version of {label} it used"
    try:
        then = parse_version(recorded)
    except PluginError:
        return f"the trace records {recorded!r} as the version of {label}, not a semantic version"
    now = parse_version(tool.version)
    if then[0] != now[0] or (then[0] == 0 and then[1] != now[1]):
        return (
            f"it was recorded with {label} {recorded} and {tool.version} is installed; "
            "llmos refuses to replay a step recorded under another major version "
            "(learn the goal again: llmos run --mode learner)"
        )
    return None
