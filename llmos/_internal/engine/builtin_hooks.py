"""The hooks every Learner run gets: security, budget, trace capture and memory recall.

Each guard publishes its verdict on the event bus, so the terminal and the session log
show what was allowed and what was stopped, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmos._internal.engine.recall import Recollection
from llmos._internal.kernel.events import MemoryInjected, ToolFinished
from llmos._internal.kernel.hooks import HookInput, HookOutput, HookRegistry, add_context, deny
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.capture import TraceRecorder, summarize_response
from llmos._internal.memory.step_kinds import FILE_WRITING_TOOLS
from llmos._internal.security.approval import Approver, allow_with, resolution_output

if TYPE_CHECKING:
    from llmos._internal.replay.checkpoint import Checkpoint
    from llmos._internal.security.guard import RunGuard

APPROVAL_TIMEOUT_SECS = 3600.0
THINK_AGAIN = "Reconsider: choose a safe way to reach the goal, or explain why you cannot."


def _agent(hook_input: HookInput) -> str | None:
    return hook_input.get("agent_type") or hook_input.get("agent_id")


def security_hook(
    ctx: RunContext, approver: Approver | None = None, *, guard: RunGuard | None = None
) -> Callable[[HookInput], Any]:
    """The policy's verdict on each call (subagents' calls included), through the run's
    `guard` (llmos/_internal/security/guard.py: the run's policy, the audit trail). With an
    `approver` (a human, or --yes), the calls the policy asks about are put to it; without one they
    are refused. What the policy denies never runs."""
    if guard is None:
        from llmos._internal.security.guard import RunGuard

        guard = RunGuard(ctx, approver=approver)
    run_guard = guard

    async def check(hook_input: HookInput) -> HookOutput:
        tool = str(hook_input.get("tool_name", ""))
        review = await run_guard.review(
            tool,
            hook_input.get("tool_input") or {},
            tool_use_id=str(hook_input.get("tool_use_id", "")),
            agent=_agent(hook_input),
        )
        if review.resolution is not None:  # the approver was asked
            return resolution_output(review.resolution)
        if review.allowed:
            return allow_with(review.tool_input) if review.changed else {}
        decision = review.decision
        return deny(f"llmos security policy ({decision.rule}): {decision.reason} {THINK_AGAIN}")

    return check


def budget_hook(ctx: RunContext) -> Callable[[HookInput], Any]:
    async def guard(hook_input: HookInput) -> HookOutput:
        if ctx.spent_usd < ctx.budget_usd:
            return {}
        tool = str(hook_input.get("tool_name", ""))
        reason = (
            f"this run has spent about ${ctx.spent_usd:.4f} of its ${ctx.budget_usd:.4f} budget"
        )
        tool_use_id = str(hook_input.get("tool_use_id", ""))
        ctx.refuse(tool_use_id, tool, guard="budget", rule="budget-exhausted", reason=reason)
        return deny(f"llmos budget: {reason}. Stop calling tools and give your final answer.")

    return guard


def files_hook(recorder: TraceRecorder, checkpoint: Checkpoint | None) -> Callable[..., Any]:
    """Before a call runs: the state of the files it will touch (its preconditions, for the
    trace) and, for a file it will change, a copy for `llmos undo`."""

    async def note(hook_input: HookInput) -> HookOutput:
        tool = str(hook_input.get("tool_name", ""))
        tool_input = hook_input.get("tool_input") or {}
        recorder.before_call(str(hook_input.get("tool_use_id", "")), tool, tool_input)
        if checkpoint is not None:
            if tool == "Bash":
                checkpoint.note_command(str(tool_input.get("command", "")))
            elif tool in FILE_WRITING_TOOLS:
                for path in recorder.touched(tool, tool_input):
                    checkpoint.keep(recorder.workdir / path)
        return {}

    return note


def capture_hook(ctx: RunContext, recorder: TraceRecorder, *, ok: bool) -> Callable[..., Any]:
    async def capture(hook_input: HookInput) -> HookOutput:
        tool = str(hook_input.get("tool_name", ""))
        response = hook_input.get("tool_response") if ok else hook_input.get("error")
        recorder.record(
            tool,
            hook_input.get("tool_input") or {},
            ok=ok,
            response=response,
            agent=_agent(hook_input),
            tool_use_id=str(hook_input.get("tool_use_id", "")),
        )
        ctx.bus.publish(
            ToolFinished(
                run_id=ctx.run_id,
                tool_use_id=str(hook_input.get("tool_use_id", "")),
                tool=tool,
                ok=ok,
                summary=summarize_response(response),
            )
        )
        return {}

    return capture


def memory_hook(ctx: RunContext, recollect: Callable[[str], Recollection]) -> Callable[..., Any]:
    async def inject(hook_input: HookInput) -> HookOutput:
        memory = recollect(ctx.goal)
        ctx.bus.publish(
            MemoryInjected(
                run_id=ctx.run_id,
                sources=memory.sources,
                tokens=memory.tokens,
                text=memory.text,
                chars=len(memory.text),
                budget_tokens=memory.budget,
                counter=memory.counter,
                items=[item.to_dict() for item in memory.items],
                considered=memory.considered,
            )
        )
        return add_context("UserPromptSubmit", memory.text) if memory.text else {}

    return inject


def install_builtin_hooks(
    registry: HookRegistry,
    ctx: RunContext,
    recorder: TraceRecorder,
    recollect: Callable[[str], Recollection],
    *,
    approver: Approver | None = None,
    guard: RunGuard | None = None,
    checkpoint: Checkpoint | None = None,
) -> None:
    # Guards fail closed: if one crashes, the CLI blocks the call instead of running it.
    # A human deciding on a call may take a while: the CLI waits up to an hour for them.
    approver = approver or (guard.approver if guard is not None else None)
    registry.add(
        "PreToolUse",
        security_hook(ctx, approver, guard=guard),
        name="security",
        fail_closed=True,
        timeout_secs=APPROVAL_TIMEOUT_SECS if approver is not None else 60.0,
    )
    registry.add("PreToolUse", budget_hook(ctx), name="budget", fail_closed=True)
    registry.add("PreToolUse", files_hook(recorder, checkpoint), name="files")
    registry.add("PostToolUse", capture_hook(ctx, recorder, ok=True), name="trace-capture")
    registry.add(
        "PostToolUseFailure", capture_hook(ctx, recorder, ok=False), name="trace-capture-failure"
    )
    registry.add("UserPromptSubmit", memory_hook(ctx, recollect), name="memory-injection")
