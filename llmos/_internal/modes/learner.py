"""Learner mode: the model works the goal out through the Claude Agent SDK, under llmos hooks.

A successful run is saved as an execution trace; every run, successful or not, gets a
ledger row charged with the real cost the SDK reported.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from llmos._internal.agents.spec import DEFAULT_TOOLS
from llmos._internal.engine.builtin_hooks import install_builtin_hooks
from llmos._internal.engine.governed.session import GovernanceSession, governance_session
from llmos._internal.engine.lifecycle import ModelRun
from llmos._internal.engine.recall import recall_for_run
from llmos._internal.engine.types import RunRequest
from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import Notice
from llmos._internal.kernel.hooks import HookRegistry
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.capture import TraceRecorder
from llmos._internal.memory.insights import record_insight
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.step_kinds import READ_ONLY_TOOLS, changes_state
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.plugins.run_tools import RunTools, tool_policy_hook
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.sdk.types import AgentOutcome, AgentRequest
from llmos._internal.security.guard import run_guard
from llmos._internal.security.sandbox import SandboxProfile
from llmos._internal.security.sandbox_cli import CliFolder, cli_env, cli_settings
from llmos._internal.security.trust import TrustStore
from llmos._internal.workspace import Workspace

if TYPE_CHECKING:
    from llmos._internal.agents.spec import AgentSpec
    from llmos._internal.governance.policy import GovernancePolicy
    from llmos._internal.security.approval import Approver

SYSTEM_PROMPT_APPEND = """
You are the processor of llmos, an LLM operating system. Your working folder is {workdir}:
create and change files only inside it. Every tool call passes llmos's security policy;
when a call is denied, read the reason and take a safe route instead of retrying it.
When the goal is done, reply with a short summary of what you did.
""".strip()

EXAMPLE_PROMPT = """
A similar goal was learned before (match confidence {confidence:.2f}): {goal!r}.
These tool calls reached it then; reuse what fits and change what this goal needs:
{steps}
""".strip()
_EXAMPLE_INPUT_CHARS = 600

AGENT_ROLE_PROMPT = """
You work as the llmos agent "{name}" ({description}). Its instructions:
{prompt}
""".strip()


def worked_example(trace: Trace, confidence: float) -> str:
    """A learned trace as a worked example for the model: cheaper than learning from nothing."""
    lines = []
    for number, step in enumerate(trace.steps, start=1):
        if step.outcome != "ok":
            continue
        shown = json.dumps(step.input, ensure_ascii=False)
        if len(shown) > _EXAMPLE_INPUT_CHARS:
            shown = shown[:_EXAMPLE_INPUT_CHARS] + "…"
        lines.append(f"{number}. {step.tool} {shown}")
    steps = "\n".join(lines) or "(no tool calls)"
    return EXAMPLE_PROMPT.format(confidence=confidence, goal=trace.goal_text, steps=steps)


@frozen
class LearnerResult:
    """What a Learner run ended with: the agent's outcome (None if it never reported), the
    trace it saved, why it failed, and its governance (summary, hand-over)."""

    outcome: AgentOutcome | None
    trace_path: Path | None
    error: str | None
    governance: GovernanceSession


async def run_learner(
    ws: Workspace,
    request: RunRequest,
    run: ModelRun,
    library: TraceLibrary,
    *,
    example: Trace | None = None,
    example_confidence: float = 0.0,
    env: dict[str, str] | None = None,
    agents: tuple[AgentSpec, ...] = (),
    approver: Approver | None = None,
    sandbox: SandboxProfile | None = None,
    tools: RunTools | None = None,
    governance: GovernancePolicy | None = None,
) -> LearnerResult:
    """Run the goal in `run` (opened by the dispatcher); save its trace on success; say how
    it ended (`run.end`: the lifecycle writes the ledger row). Returns what happened.

    `agents` are offered to the model as subagents. A subtask of an orchestration
    (`request.agent`) runs as its agent instead: its prompt, tools and turn limit. With a
    `sandbox` profile, the CLI runs every Bash command inside its sandbox (with the
    profile's limits; llmos/_internal/security/sandbox.py). `tools`: the project's plugin tools,
    less what its policy denies (llmos/_internal/plugins/run_tools.py); `governance`: the run's, if
    one is declared (llmos/_internal/governance/current.py).
    """
    # the SDK is loaded only when a model is needed
    from llmos._internal.sdk.runner import run_agent
    from llmos._internal.sdk.token_count import prefetch

    if library.index.count():  # recall will have traces to count: load its counter meanwhile
        prefetch({**os.environ, **(env or {})})

    ctx = run.ctx
    recorder = TraceRecorder(ctx.workdir)
    checkpoint = Checkpoint(ws.undo_dir / ctx.run_id, ctx.workdir, ctx.run_id, ctx.goal, "learner")
    registry = HookRegistry()
    security = run_guard(ws, ctx, approver, source="learner")  # closed with the run
    shown = frozenset({example.goal_signature}) if example else frozenset()
    install_builtin_hooks(
        registry,
        ctx,
        recorder,
        lambda goal: recall_for_run(
            ws,
            library,
            goal,
            project=ctx.project,
            model=ctx.model,
            env={**os.environ, **(env or {})},  # what the CLI reaches the model with
            exclude=shown,
        ),
        approver=approver,
        guard=security,
        checkpoint=checkpoint,
    )
    # Governance: checkers, routers and evaluators over the run's history
    # (llmos/_internal/governance).
    governed = governance_session(
        ws,
        ctx,
        request,
        approver=approver,
        env=env,
        library=library,
        example=example,
        example_confidence=example_confidence,
        governance=governance,
        tools=tools,
    )
    governed.install(registry)
    # The project's tools: its plugins' tools offered as MCP tools, the tools its policy
    # denies left out.
    run_tools = tools or RunTools(workdir=ctx.workdir)
    if run_tools.registry.plugins:
        guard = tool_policy_hook(ctx, run_tools)
        registry.add("PreToolUse", guard, name="tool-policy", matcher="mcp__.*", fail_closed=True)
    system_append = SYSTEM_PROMPT_APPEND.format(workdir=ctx.workdir)
    if example is not None:
        system_append += "\n\n" + worked_example(example, example_confidence)
    role = request.agent
    if role is not None:
        system_append += "\n\n" + AGENT_ROLE_PROMPT.format(
            name=role.name, description=role.description, prompt=role.prompt
        )
    agent_request = AgentRequest(
        # The context (results handed on by an orchestration) is not part of the goal, so
        # the trace is learned under the goal alone and a later run of it can replay.
        prompt=f"{request.goal}\n\n{request.context}" if request.context else request.goal,
        workdir=ctx.workdir,
        hooks=registry.specs(),
        budget_usd=ctx.budget_usd,
        model=ctx.model,
        max_turns=request.max_turns or (role.max_turns if role else None) or ws.settings.max_turns,
        timeout_secs=request.timeout_secs,
        stall_timeout_secs=ws.settings.stall_timeout_secs,
        tool_timeout_secs=ws.settings.tool_timeout_secs,
        system_prompt_append=system_append,
        env={**(env or {}), **(cli_env(sandbox) if sandbox else {})},
        sandbox=cli_settings(sandbox, {**os.environ, **(env or {})}) if sandbox else None,
        tools=run_tools.offered(role.tool_list if role is not None else DEFAULT_TOOLS),
        agents=agents,
        plugin_tools=run_tools,
        resume=request.resume_session,
        resume_cost_usd=request.resume_cost_usd,
    )
    outcome: AgentOutcome | None = None
    trace_path: Path | None = None
    error: str | None = None
    cli_folder = CliFolder(ctx.workdir) if sandbox else None
    try:
        outcome = await run_agent(agent_request, ctx)
        verdict = await governed.conclude(outcome)  # a route or a checker may end it
        outcome = verdict.outcome or outcome
        if not outcome.ok:
            error = describe_failure(outcome)
        elif request.resume_session is not None:
            pass  # the goal means something only in its conversation: no trace to replay
        elif (
            refusal := not_learned(recorder.steps, ctx)
            or _unfollowable(request, verdict.unfollowable)
        ) is not None:
            ctx.bus.publish(Notice(run_id=ctx.run_id, text=f"not saved as a trace: {refusal}"))
        else:
            learned_run = Trace(
                goal_text=request.goal,
                # plugin tool versions; each step's type
                steps=governed.typed(run_tools.with_checks(recorder.steps)),
                scores=verdict.trace_scores(),
                estimated_cost_usd=round(outcome.cost_usd, 6),
                estimated_time_secs=round(outcome.duration_secs, 3),
                mode="learner",
                model=outcome.model or ctx.model,
                project=ctx.project,
                result=outcome.result_text,
            )
            learned = library.learn(learned_run)
            trace_path = learned.path
            with TrustStore.of(ws) as trust:  # learned here: it may replay
                trust.record_learned(learned.trace)
            if learned.kind != "new" or learned.kept is not None:
                text = f"trace {learned.trace.goal_signature}: {learned.describe()}"
                ctx.bus.publish(Notice(run_id=ctx.run_id, text=text))
            record_insight(ws, learned.trace, outcome, ctx)  # what worked, for recall
    except asyncio.CancelledError:
        error = "interrupted"
        raise
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        checkpoint.seal()
        security.close()
        if cli_folder is not None:
            cli_folder.tidy()
        _end(run, outcome, trace_path, error)
    return LearnerResult(outcome, trace_path, error, governed)


def not_learned(steps: list[TraceStep], ctx: RunContext) -> str | None:
    """Why a run that ended well is still not worth replaying, or None if it is.

    What a trace promises is the changes its run made. A run whose every attempt at a change
    failed or was refused changed nothing (the model may still say "Done"); a run whose last
    change failed did not end in the state it was after."""
    changes = [s for s in steps if changes_state(s.tool, s.input)]
    refused_changes = [t for t in ctx.refused_tools if t not in READ_ONLY_TOOLS]
    if not changes:
        if refused_changes or (ctx.denied_calls and not steps):
            return "every call that would have changed something was refused"
        return None  # an answer, from reading or from nothing: replayed as the answer
    if not any(s.outcome == "ok" for s in changes):
        return "every call that would have changed something failed or was refused"
    last = changes[-1]
    if last.outcome != "ok":
        number = steps.index(last) + 1
        return f"its last change (step {number}, {last.summary}) failed"
    return None


def _unfollowable(request: RunRequest, evaluators: str | None) -> str | None:
    """Why governance keeps this successful run's trace from being saved, or None."""
    if request.handed_over_from is not None:
        return f"it finished a goal that run {request.handed_over_from} began (a hand-over)"
    return evaluators


def describe_failure(outcome: AgentOutcome) -> str:
    details = "; ".join(outcome.errors)
    reasons = {
        "timed_out": "the watchdog stopped the run",
        "max_turns": "the agent used all its turns (--max-turns) before finishing",
        "budget_exhausted": "the run reached its budget before finishing",
        "error": "the agent reported an error",
        "governance_failed": "the run broke a governance checker to the end",
        "stopped": "a governance route ended the run",
        "handed_off": "a governance route handed the goal to another agent",
    }
    text = reasons.get(outcome.status, outcome.status)
    return f"{text}: {details}" if details else text


def _end(
    run: ModelRun, outcome: AgentOutcome | None, trace_path: Path | None, error: str | None
) -> None:
    if outcome is None:  # the CLI never reported
        run.end(None, status="interrupted" if error == "interrupted" else "error", error=error)
    else:
        run.end(outcome, error=error, trace_path=trace_path)
