"""Run one goal through the Claude Agent SDK and its bundled Claude Code CLI.

Translates llmos hooks into the SDK's matchers, streams the agent's messages onto the
event bus, enforces the watchdog's limits (`llmos/_internal/kernel/watchdog.py`: the run's wall
clock, a stalled stream, a tool call that runs too long) by interrupting the CLI and making sure
the process is gone, and reduces the final ResultMessage to an `AgentOutcome`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from claude_agent_sdk import (
    AgentDefinition,
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ClaudeSDKError,
    CLIConnectionError,
    HookMatcher,
    ProcessError,
    ResultMessage,
    StreamEvent,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from llmos._internal.credentials import model_failure
from llmos._internal.errors import AgentError
from llmos._internal.governance.kinds import classify
from llmos._internal.kernel.events import (
    AssistantText,
    CostUpdated,
    ModelTurn,
    ToolRequested,
    WatchdogTripped,
)
from llmos._internal.kernel.hooks import HookInput, HookSpec
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.kernel.watchdog import Breach, Watchdog, WatchdogLimits
from llmos._internal.sdk.cli_reaper import PARENT_ENV
from llmos._internal.sdk.keeper import keeper_launcher
from llmos._internal.sdk.types import AgentOutcome, AgentRequest, AgentStatus

if TYPE_CHECKING:
    from llmos._internal.agents.spec import AgentSpec
    from llmos._internal.plugins.run_tools import RunTools

log = logging.getLogger(__name__)

# Given to the CLI on every run: no title-generation request or telemetry (they cost money
# and reach the network), subagents run in the foreground so their calls are captured
# within the run, and MCP tools are offered up front instead of through ToolSearch.
_CLI_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1",
    "ENABLE_TOOL_SEARCH": "false",
}
# The CLI retries a failing model connection ten times with backoff (minutes of silence);
# llmos gives up sooner and says why, unless the user chose a number of retries.
_DEFAULT_MAX_RETRIES = "2"
_SYNTHETIC_MODEL = "<synthetic>"  # the CLI's name for messages it made up itself (API errors)
# The tool through which the CLI takes structured output (output_format): not a real action.
_STRUCTURED_OUTPUT_TOOL = "StructuredOutput"
_INTERRUPT_GRACE_SECS = 5.0

_ERROR_STATUS: dict[str, AgentStatus] = {
    "error_max_turns": "max_turns",
    "error_max_budget_usd": "budget_exhausted",
}


def _sdk_hooks(specs: list[HookSpec]) -> dict[Any, list[HookMatcher]]:
    hooks: dict[Any, list[HookMatcher]] = {}
    for spec in specs:

        async def callback(
            hook_input: Any, tool_use_id: Any, context: Any, *, _spec: HookSpec = spec
        ) -> Any:
            return await _spec.callback(cast(HookInput, dict(hook_input)))

        matcher = HookMatcher(
            matcher=spec.matcher,
            hooks=[callback],
            timeout=spec.timeout_secs,
            on_failure="block" if spec.fail_closed else None,
        )
        hooks.setdefault(spec.event, []).append(matcher)
    return hooks


def _sdk_agents(specs: tuple[AgentSpec, ...]) -> dict[str, AgentDefinition] | None:
    """llmos agents as the SDK's subagent definitions (the model delegates with `Agent`)."""
    if not specs:
        return None
    return {
        spec.name: AgentDefinition(
            description=spec.description,
            prompt=spec.prompt,
            tools=list(spec.tools) if spec.tools is not None else None,
            model=spec.model or "inherit",
            maxTurns=spec.max_turns,
        )
        for spec in specs
    }


def _system_prompt(request: AgentRequest) -> Any:
    if request.system_prompt is not None:
        return request.system_prompt
    return {"type": "preset", "preset": "claude_code", "append": request.system_prompt_append}


def build_options(request: AgentRequest, stderr_tail: deque[str]) -> ClaudeAgentOptions:
    output_format = None
    if request.output_schema is not None:
        output_format = {"type": "json_schema", "schema": request.output_schema}
    plugin_tools = request.plugin_tools
    mcp_servers: dict[str, Any] = {}
    if plugin_tools is not None:
        from llmos._internal.sdk.plugin_tools import plugin_servers

        mcp_servers = dict(plugin_servers(plugin_tools))
    return ClaudeAgentOptions(
        cwd=str(request.workdir),
        model=request.model,
        max_turns=request.max_turns,
        max_budget_usd=request.budget_usd,
        tools=list(request.tools),
        # Tools are pre-approved so the CLI never waits for a human it does not have;
        # llmos's own PreToolUse guards are what decide (and deny) each call.
        allowed_tools=[
            *request.tools,
            *(plugin_tools.plugin_tool_names() if plugin_tools is not None else ()),
        ],
        # Plugin tools, each plugin an in-process MCP server (mcp__llmos_<plugin>__<tool>).
        mcp_servers=mcp_servers,
        permission_mode="acceptEdits",
        system_prompt=_system_prompt(request),
        agents=_sdk_agents(request.agents),
        output_format=output_format,
        # No user/project settings or CLAUDE.md: a run depends on llmos's inputs only.
        setting_sources=[],
        # Every streamed chunk is a sign of life for the watchdog's stall limit.
        include_partial_messages=True,
        hooks=_sdk_hooks(request.hooks),
        env={
            **_CLI_ENV,
            PARENT_ENV: str(os.getpid()),
            "CLAUDE_CODE_MAX_RETRIES": os.environ.get(
                "CLAUDE_CODE_MAX_RETRIES", _DEFAULT_MAX_RETRIES
            ),
            **request.env,
        },
        stderr=stderr_tail.append,
        resume=request.resume,
        cli_path=keeper_launcher(),
        # The CLI's own sandbox around Bash (bubblewrap on Linux, Seatbelt on macOS).
        sandbox=request.sandbox,  # type: ignore[arg-type]  # a SandboxSettings dict
    )


async def run_agent(request: AgentRequest, ctx: RunContext) -> AgentOutcome:
    """Run `request`; stream events to `ctx.bus`; return what happened. Never leaves a CLI."""
    stderr_tail: deque[str] = deque(maxlen=40)
    if ctx.traceparent:  # the CLI's own telemetry, if the user turns it on, nests under the run
        request = dataclasses.replace(request, env={"TRACEPARENT": ctx.traceparent, **request.env})
    options = build_options(request, stderr_tail)
    started = time.monotonic()
    state = _StreamState()
    changed = asyncio.Event()
    limits = WatchdogLimits.of(
        request.timeout_secs, request.stall_timeout_secs, request.tool_timeout_secs
    )
    watchdog = ctx.watchdog = Watchdog(limits, on_change=changed.set)
    client = ClaudeSDKClient(options=options)
    consumer: asyncio.Task[None] | None = None
    try:
        try:
            # Starting the CLI is watched too: it gets until the first deadline.
            async with asyncio.timeout(watchdog.seconds_to_next_check()):
                await client.connect()
                ctx.switch_model = client.set_model  # a governance route may switch models
                await client.query(request.prompt)
        except TimeoutError:
            state.breach = watchdog.breach() or Breach("run", 0, "the CLI did not start in time")
        else:
            consumer = asyncio.create_task(
                _consume(client, ctx, state, watchdog, request.plugin_tools)
            )
            state.breach = await _watch(consumer, watchdog, changed)
            if state.breach is None:
                consumer.result()  # re-raise what the stream raised
        if state.breach is not None:
            breach = state.breach
            ctx.bus.publish(
                WatchdogTripped(
                    run_id=ctx.run_id,
                    limit=breach.limit,
                    limit_secs=breach.limit_secs,
                    detail=breach.detail,
                )
            )
            if consumer is not None:
                await _interrupt(client, consumer)
    except ProcessError as exc:
        if state.result is None:
            raise _agent_error(exc, stderr_tail) from exc
        # An error result (max turns, budget) makes the SDK raise after yielding it.
    except CLIConnectionError as exc:
        raise _agent_error(exc, stderr_tail) from exc
    except ClaudeSDKError as exc:
        raise _agent_error(exc, stderr_tail) from exc
    finally:
        # Cancelled (Ctrl-C, the kernel stopping): interrupt the CLI first, so that it stops
        # its model request or tool at once and exits on disconnect instead of being waited
        # for and then killed.
        if consumer is not None and not consumer.done():
            await _interrupt(client, consumer)
        with contextlib.suppress(Exception):
            await client.disconnect()
        ctx.watchdog = None
        ctx.switch_model = None
    outcome = _outcome(state, ctx, time.monotonic() - started, request.resume_cost_usd)
    if outcome.status == "error":
        # A refused key, a gateway without one, an endpoint nobody answers at: no model
        # access (exit 3), said with the variable to set. (The run is recorded first.)
        reached = state.model is not None and ctx.tool_calls > 0
        failure = model_failure(outcome.errors, {**os.environ, **request.env}, reached=reached)
        if failure is not None:
            raise failure
    return outcome


async def _watch(
    consumer: asyncio.Task[None], watchdog: Watchdog, changed: asyncio.Event
) -> Breach | None:
    """Wait for the stream to end; return the limit it broke first, if it broke one."""
    while True:
        changed.clear()
        waiter = asyncio.create_task(changed.wait())
        try:
            await asyncio.wait(
                {consumer, waiter},
                timeout=watchdog.seconds_to_next_check(),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        if consumer.done():
            return None
        breach = watchdog.breach()
        if breach is not None:
            return breach


class _StreamState:
    def __init__(self) -> None:
        self.result: ResultMessage | None = None
        self.model: str | None = None
        self.breach: Breach | None = None
        # The message each stream (the main agent's, a subagent's) is sending: its id and
        # model, for the usage its message_delta reports, and when it started and why it
        # stopped, for its ModelTurn.
        self.streaming: dict[str | None, _Streaming] = {}
        self.streamed: set[str] = set()  # the ids of the messages that came as a stream
        # A message that came only whole (a subagent's: the CLI streams the main agent's
        # alone), per stream: its turn is over when something else comes on that stream or
        # the subagent's call returns. And when each stream last showed something.
        self.whole: dict[str | None, _Streaming] = {}
        self.last_seen: dict[str | None, float] = {}


class _Streaming:
    __slots__ = ("message_id", "model", "started_at", "stop_reason")

    def __init__(self, message_id: str, model: str | None) -> None:
        self.message_id, self.model = message_id, model
        self.started_at = time.time()
        self.stop_reason: str | None = None


def _on_stream_event(message: StreamEvent, ctx: RunContext, state: _StreamState) -> None:
    """The stream's usage, as it comes: what a message costs is known before the message
    ends (and before an interrupted run ends), its output tokens included."""
    event = message.event if isinstance(message.event, dict) else {}
    stream = message.parent_tool_use_id
    kind = event.get("type")
    if kind == "message_start":
        started = event.get("message") or {}
        message_id, model = started.get("id"), started.get("model")
        if not message_id:
            return
        state.streaming[stream] = _Streaming(message_id, model)
        state.streamed.add(message_id)
        usage = started.get("usage")
    elif kind == "message_delta" and stream in state.streaming:
        current = state.streaming[stream]
        message_id, model = current.message_id, current.model
        usage = event.get("usage")
        delta = event.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason"):
            current.stop_reason = str(delta["stop_reason"])
    elif kind == "message_stop" and stream in state.streaming:
        _turn_ended(state.streaming.pop(stream), stream, ctx)
        return
    else:
        return
    if isinstance(usage, dict) and usage:
        spent = ctx.cost.observe(message_id, model, usage)
        ctx.bus.publish(CostUpdated(run_id=ctx.run_id, spent_usd=spent))


def _turn_ended(turn: _Streaming, stream: str | None, ctx: RunContext) -> None:
    ctx.bus.publish(
        ModelTurn(
            run_id=ctx.run_id,
            message_id=turn.message_id,
            model=turn.model,
            started_at=turn.started_at,
            usage=ctx.cost.usage_of(turn.message_id),
            stop_reason=turn.stop_reason,
            agent="subagent" if stream else None,
            parent_tool_use_id=stream,
        )
    )


async def _consume(
    client: ClaudeSDKClient,
    ctx: RunContext,
    state: _StreamState,
    watchdog: Watchdog,
    tools: RunTools | None = None,
) -> None:
    async for message in client.receive_response():
        watchdog.saw_activity()
        if isinstance(message, StreamEvent):
            _on_stream_event(message, ctx, state)
            continue
        if isinstance(message, AssistantMessage):
            _on_assistant(message, ctx, state, tools)
            for block in message.content:
                if isinstance(block, ToolUseBlock):
                    watchdog.tool_started(block.id, block.name)
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            _whole_turn_ended(message.parent_tool_use_id, ctx, state)
            for result_block in message.content:
                if isinstance(result_block, ToolResultBlock):
                    watchdog.tool_finished(result_block.tool_use_id)
                    _whole_turn_ended(result_block.tool_use_id, ctx, state)  # a subagent's
        elif isinstance(message, ResultMessage):
            state.result = message
            for stream in list(state.whole):
                _whole_turn_ended(stream, ctx, state)
        state.last_seen[getattr(message, "parent_tool_use_id", None)] = time.time()


def _whole_turn_ended(stream: str | None, ctx: RunContext, state: _StreamState) -> None:
    turn = state.whole.pop(stream, None)
    if turn is not None:
        _turn_ended(turn, stream, ctx)


def _on_assistant(
    message: AssistantMessage, ctx: RunContext, state: _StreamState, tools: RunTools | None
) -> None:
    if message.model and message.model != _SYNTHETIC_MODEL:
        state.model = message.model
    stream, message_id = message.parent_tool_use_id, message.message_id
    if message_id and message_id not in state.streamed:
        current = state.whole.get(stream)
        if current is None or current.message_id != message_id:
            _whole_turn_ended(stream, ctx, state)
            streaming = state.whole[stream] = _Streaming(message_id, message.model)
            # It began after the stream's previous message (a tool result, for a subagent).
            streaming.started_at = state.last_seen.get(stream, streaming.started_at)
    agent = "subagent" if message.parent_tool_use_id else None
    turn = message.message_id  # one model turn: a superstep of the run's history
    for block in message.content:
        if isinstance(block, TextBlock) and block.text.strip():
            ctx.bus.publish(
                AssistantText(run_id=ctx.run_id, text=block.text, agent=agent, turn=turn)
            )
        elif isinstance(block, ToolUseBlock) and block.name != _STRUCTURED_OUTPUT_TOOL:
            ctx.tool_calls += 1
            kind = tools.kind_of(block.name) if tools is not None else None
            ctx.bus.publish(
                ToolRequested(
                    run_id=ctx.run_id,
                    tool_use_id=block.id,
                    tool=block.name,
                    input=dict(block.input),
                    agent=agent,
                    parent_tool_use_id=message.parent_tool_use_id,
                    step_type=classify(block.name, dict(block.input), kind).type,
                    turn=turn,
                )
            )
    if message.message_id and message.usage:
        spent = ctx.cost.observe(message.message_id, message.model, message.usage)
        ctx.bus.publish(CostUpdated(run_id=ctx.run_id, spent_usd=spent))


async def _interrupt(client: ClaudeSDKClient, consumer: asyncio.Task[None]) -> None:
    """Ask the CLI to stop, give it a moment to report what it spent, then cut it off."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.interrupt(), _INTERRUPT_GRACE_SECS)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(consumer), _INTERRUPT_GRACE_SECS)
    if not consumer.done():
        consumer.cancel()
        with contextlib.suppress(BaseException):
            await consumer


def _outcome(
    state: _StreamState, ctx: RunContext, duration: float, resume_cost: float = 0.0
) -> AgentOutcome:
    result = state.result
    usage = (result.usage if result else None) or {}
    cost = result.total_cost_usd if result and result.total_cost_usd is not None else None
    if cost is not None and resume_cost:
        # A resumed conversation's total carries on from what it had cost (its usage and
        # turns do not): this run's cost is what was added.
        cost = max(0.0, cost - resume_cost)
    status: AgentStatus
    if state.breach is not None:
        status = "timed_out"
    elif result is None:
        status = "error"
    elif result.is_error:
        # An API error (dead connection, bad key) arrives as subtype "success" + is_error.
        status = _ERROR_STATUS.get(result.subtype, "error")
    else:
        status = "success"
    errors: tuple[str, ...] = (state.breach.detail,) if state.breach else ()
    if result is not None and result.is_error and state.breach is None:
        found = (result.result, *(result.errors or ()))
        errors = tuple(e for e in found if e and not e.startswith("[ede_diagnostic]"))
    final_cost = ctx.spent_usd if cost is None else cost
    if status != "success":
        # A run cut short may be reported before the CLI counted its last message: it is
        # charged at least what the stream showed it spent.
        final_cost = max(final_cost, ctx.spent_usd)
    ctx.bus.publish(CostUpdated(run_id=ctx.run_id, spent_usd=final_cost, final=True))
    return AgentOutcome(
        status=status,
        result_text=(result.result or "") if result and not result.is_error else "",
        cost_usd=final_cost,
        turns=result.num_turns if result else 0,
        input_tokens=int(usage.get("input_tokens") or ctx.cost.input_tokens),
        output_tokens=int(usage.get("output_tokens") or ctx.cost.output_tokens),
        model=state.model,
        session_id=result.session_id if result else None,
        duration_secs=duration,
        errors=errors,
        structured_output=result.structured_output if result and not result.is_error else None,
    )


def _agent_error(exc: Exception, stderr_tail: deque[str]) -> AgentError:
    detail = "\n".join(line.rstrip() for line in stderr_tail if line.strip())[-2000:]
    message = f"the Claude Code CLI failed: {exc}"
    return AgentError(message, hint=detail or None)
