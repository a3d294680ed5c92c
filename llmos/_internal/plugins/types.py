"""What a plugin is: the tools, event hooks and agents one plugin module registers.

A plugin module builds one `Plugin` and registers on it:

- **tools**: plain typed Python functions (`@plugin.tool(version="1.0.0")`). Learner runs
  offer them to the model as MCP tools named `mcp__llmos_<plugin>__<tool>`; Follower runs
  replay a recorded call by calling the function again, with no model;
- **event hooks**: functions called with the kernel's events of each run
  (`@plugin.on("run_finished")`), on the event bus, so a slow or failing hook never holds
  up the run;
- **agents**: subagents as plain data (`plugin.agent(...)`, llmos's `AgentSpec` from
  `llmos/_internal/agents/spec.py`) that Learner runs may delegate to;
- **governance** (`llmos/_internal/governance/`): checkers over a run's history
  (`@plugin.checker`), routers (`@plugin.router`) and evaluators (`@plugin.evaluator`), for
  the runs whose project offers the plugin. A tool says what type of step it is
  (`kind="verify"`; default "execute") and may declare the schema of its output.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from llmos._internal.agents.spec import AgentFormatError, AgentSpec, make_spec
from llmos._internal.errors import LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import Event
from llmos._internal.plugins.schema import input_schema, return_schema

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")  # no "__": it separates MCP name parts
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.+-]+)?$")
_MAX_PLUGIN_NAME = 24
_MAX_TOOL_NAME = 32  # the full MCP name must fit the API's 64 characters
SERVER_PREFIX = "llmos_"


class PluginError(LlmosError):
    """A plugin is defined wrongly (a bad name, version or parameter type) or failed to load."""


def mcp_name(plugin: str, tool: str) -> str:
    """The name the model calls a plugin tool by (the SDK's `mcp__<server>__<tool>`)."""
    return f"mcp__{SERVER_PREFIX}{plugin}__{tool}"


def is_plugin_tool_name(tool: str) -> bool:
    """Whether `tool` is named as an llmos plugin tool (loaded or not)."""
    return tool.startswith(f"mcp__{SERVER_PREFIX}")


def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if not match:
        raise PluginError(
            f"{version!r} is not a semantic version", hint="Write MAJOR.MINOR.PATCH, e.g. 1.0.0."
        )
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _check_name(kind: str, name: str, limit: int) -> str:
    if not _NAME.match(name) or len(name) > limit:
        raise PluginError(
            f"invalid {kind} name {name!r}",
            hint=f"Use lowercase letters, digits and single '_' (at most {limit} characters).",
        )
    return name


@frozen
class PluginTool:
    """A tool a plugin registered: a typed Python function, offered to the model over MCP."""

    plugin: str
    name: str
    version: str
    description: str
    function: Callable[..., Any]
    input_schema: dict[str, Any]
    wants_workdir: bool  # the function takes `workdir`: llmos passes the run's working folder
    check_output: bool = True  # replay verifies the tool returns what it returned when learned
    kind: str = (
        "execute"  # its step type (llmos/_internal/governance/kinds.py): read, write, verify...
    )
    output_schema: dict[str, Any] | None = None  # what it must return (checked on every call)

    @property
    def full_name(self) -> str:
        return mcp_name(self.plugin, self.name)

    @property
    def server(self) -> str:
        return SERVER_PREFIX + self.plugin


@frozen
class GovernanceRule:
    """A plugin's checker, router or evaluator (llmos/_internal/governance/)."""

    plugin: str
    name: str
    function: Callable[..., Any]
    phases: frozenset[str] = frozenset({"call", "finish"})  # checkers: when they are asked
    gate: bool = False  # evaluators: a failure keeps the run's trace from being saved


@frozen
class EventHook:
    """A plugin function called with the kernel's events of each run (`@plugin.on`)."""

    plugin: str
    name: str
    kinds: frozenset[str]  # event kinds (`Event.kind`) it wants; empty: every event
    handler: Callable[[Event], Any]


def event_kinds() -> frozenset[str]:
    kinds: set[str] = set()
    pending: list[type[Event]] = [Event]
    while pending:
        cls = pending.pop()
        kinds.add(cls.kind)
        pending.extend(cls.__subclasses__())
    kinds.discard(Event.kind)
    return frozenset(kinds)


class Plugin:
    """One plugin: build it at the top of the plugin module as `plugin = Plugin("name")`."""

    def __init__(self, name: str, *, description: str = "") -> None:
        self.name = _check_name("plugin", name, _MAX_PLUGIN_NAME)
        self.description = description
        self.tools: list[PluginTool] = []
        self.hooks: list[EventHook] = []
        self.agents: list[AgentSpec] = []
        self.checkers: list[GovernanceRule] = []
        self.routers: list[GovernanceRule] = []
        self.evaluators: list[GovernanceRule] = []

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, tools={[t.name for t in self.tools]})"

    def tool(
        self,
        *,
        version: str,
        name: str | None = None,
        description: str | None = None,
        check_output: bool = True,
        kind: str = "execute",
        output_schema: dict[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Register a typed function as a tool; the function itself is returned unchanged.

        Its parameters (str, int, float, bool, Literal, lists and dicts of them, optional
        with defaults, `Annotated[T, "description"]`) become the tool's input schema; a
        parameter named `workdir` receives the run's working folder instead. Its docstring
        is the description the model reads. It returns text, or anything JSON can hold.
        `check_output=False` for a tool whose result may differ from one call to the next
        (replay then checks only that it succeeds). `kind` is its step type for governance
        (read, search, write, execute, verify, network...; default execute). Its output is
        checked against `output_schema` when given, else against its return annotation
        when that has a schema (a call that returns something else fails).
        """
        parse_version(version)
        from llmos._internal.governance.kinds import STEP_TYPES
        from llmos._internal.governance.schemas import unsupported_keywords

        if kind not in STEP_TYPES:
            raise PluginError(
                f"unknown tool kind {kind!r}", hint=f"Use one of {', '.join(STEP_TYPES)}."
            )
        if output_schema is not None:
            unsupported = unsupported_keywords(output_schema)
            if unsupported:
                raise PluginError(
                    f"output_schema: cannot check {', '.join(unsupported)}",
                    hint="See llmos/_internal/governance/schemas.py for the keywords llmos checks.",
                )

        def register(function: F) -> F:
            tool_name = _check_name("tool", name or function.__name__, _MAX_TOOL_NAME)
            if any(t.name == tool_name for t in self.tools):
                raise PluginError(f"plugin {self.name} registers the tool {tool_name} twice")
            if inspect.iscoroutinefunction(function):
                raise PluginError(
                    f"tool {tool_name}: write it as a plain function (def, not async def)",
                    hint="llmos runs each call in a worker thread, so it may block.",
                )
            schema, wants_workdir = input_schema(function)
            declared = output_schema if output_schema is not None else return_schema(function)
            text = description or inspect.getdoc(function) or ""
            if not text.strip():
                raise PluginError(f"tool {tool_name} needs a description (write a docstring)")
            self.tools.append(
                PluginTool(
                    self.name,
                    tool_name,
                    version,
                    text.strip(),
                    function,
                    schema,
                    wants_workdir,
                    check_output,
                    kind,
                    declared,
                )
            )
            return function

        return register

    def checker(self, name: str | None = None, *, phase: str = "both") -> Callable[[F], F]:
        """Register a governance checker: `function(history, call)` is asked before each tool
        call (`call` is the call) and before the run may finish (`call` is None); it returns
        None to pass, or a string saying why not. `phase`: "call", "finish" or "both"."""
        phases = {"call": {"call"}, "finish": {"finish"}, "both": {"call", "finish"}}.get(phase)
        if phases is None:
            raise PluginError(f"checker phase {phase!r}: use call, finish or both")
        return self._rule(self.checkers, "checker", name, frozenset(phases))

    def router(self, name: str | None = None) -> Callable[[F], F]:
        """Register a governance router: `function(history)` is asked after each step and at
        the end, and returns a `llmos._internal.governance.Route` (hand over, switch model, ask,
        stop) or None."""
        return self._rule(self.routers, "router", name)

    def evaluator(self, name: str | None = None, *, gate: bool = False) -> Callable[[F], F]:
        """Register a governance evaluator: `function(history)` returns a
        `llmos._internal.governance.Score`, a number from 0 to 1, or None. `gate=True`: a run it
        fails is not saved as a trace."""
        return self._rule(self.evaluators, "evaluator", name, gate=gate)

    def _rule(
        self,
        into: list[GovernanceRule],
        what: str,
        name: str | None,
        phases: frozenset[str] = frozenset({"call", "finish"}),
        *,
        gate: bool = False,
    ) -> Callable[[F], F]:
        def register(function: F) -> F:
            if inspect.iscoroutinefunction(function):
                raise PluginError(f"{what} {name or function.__name__}: write it as a plain def")
            label = f"{self.name}.{name or getattr(function, '__name__', what)}"
            if any(rule.name == label for rule in into):
                raise PluginError(f"plugin {self.name} registers the {what} {label} twice")
            into.append(GovernanceRule(self.name, label, function, phases, gate))
            return function

        return register

    def on(self, *kinds: str) -> Callable[[F], F]:
        """Register a function called with each event of these kinds (none: every event).

        Kinds are the kernel's event kinds: run_started, tool_requested, tool_decision,
        tool_finished, assistant_text, cost_updated, notice, memory_injected, run_finished...
        """
        known = event_kinds()
        unknown = sorted(set(kinds) - known)
        if unknown:
            raise PluginError(
                f"plugin {self.name}: unknown event kind(s) {', '.join(unknown)}",
                hint=f"Known kinds: {', '.join(sorted(known))}.",
            )

        def register(function: F) -> F:
            hook_name = getattr(function, "__name__", "hook")
            self.hooks.append(EventHook(self.name, hook_name, frozenset(kinds), function))
            return function

        return register

    def agent(
        self,
        name: str,
        *,
        description: str,
        prompt: str,
        tools: Sequence[str] | None = None,
        model: str | None = None,
        max_turns: int | None = None,
    ) -> AgentSpec:
        """Register a subagent (llmos's own `AgentSpec`, as agent files give). `tools` may
        name built-in tools and this plugin's tools by their short names; None gives the
        agent every tool of the run."""
        own = {t.name: t.full_name for t in self.tools}
        builtin = [t for t in tools or () if t not in own and not t.startswith("mcp__")]
        try:
            spec = make_spec(
                name=name,
                description=description,
                prompt=prompt,
                tools=builtin if tools is not None else None,
                model=model,
                max_turns=max_turns,
                source=f"plugin {self.name}",
            )
        except AgentFormatError as exc:
            raise PluginError(f"plugin {self.name}: agent {name!r}: {exc}") from exc
        if tools is not None:  # keep the caller's order, plugin tools under their MCP names
            spec = dataclasses.replace(spec, tools=tuple(own.get(t, t) for t in tools))
        self.agents.append(spec)
        return spec
