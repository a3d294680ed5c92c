"""`llmos agents create NAME --describe TEXT`: the model drafts the agent file.

One tool-less model call with structured output (the schema below, tools limited to the
ones llmos knows), within a budget checked before anything is spent; it gets a ledger row
like any run. The draft is validated like a file before it is written.
"""

from __future__ import annotations

from typing import Any

from llmos._internal.agents.spec import KNOWN_TOOLS, AgentFormatError, AgentSpec, make_spec
from llmos._internal.engine.lifecycle import model_run
from llmos._internal.errors import RunFailedError
from llmos._internal.kernel.economy import TokenEconomy
from llmos._internal.workspace import Workspace

DRAFT_SYSTEM = """You write agent definitions for llmos, an LLM operating system.
An agent is a role another model plays: a one-line description (used to pick the agent for
a task), the tools it may use, and a system prompt in the second person ("You are...")
saying how it works, what it must not do, and what it reports when done (its report is
handed to the agents that build on its work). Give it the fewest tools its job needs:
read-only roles get no Write, Edit or Bash unless they must run commands. Answer only by
calling the StructuredOutput tool."""

DEFAULT_DRAFT_BUDGET_USD = 0.10


def draft_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "description": {"type": "string", "minLength": 1, "maxLength": 300},
            "tools": {
                "type": "array",
                "items": {"type": "string", "enum": list(KNOWN_TOOLS)},
                "uniqueItems": True,
            },
            "prompt": {"type": "string", "minLength": 1, "maxLength": 6000},
        },
        "required": ["description", "tools", "prompt"],
        "additionalProperties": False,
    }


async def draft_agent(
    ws: Workspace,
    name: str,
    describe: str,
    *,
    project: str,
    budget_usd: float | None,
    model: str | None,
    env: dict[str, str] | None = None,
) -> tuple[AgentSpec, float]:
    """The model's draft of agent `name` from `describe`, and what it cost."""
    from llmos._internal.sdk.structured import ask_structured

    economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
    try:
        async with model_run(
            ws,
            economy,
            goal=f"draft the agent {name}: {describe}",
            project=project,
            mode="agent-draft",
            budget_usd=budget_usd or DEFAULT_DRAFT_BUDGET_USD,
            reason="drafting an agent file with the model",
            model=model,
            env=env,
        ) as run:
            ctx = run.ctx
            answer = await ask_structured(
                ctx,
                prompt=f"Write the agent {name!r}. What the user wants of it:\n{describe}",
                system=DRAFT_SYSTEM,
                schema=draft_schema(),
                budget_usd=ctx.budget_usd,
                model=ctx.model,
                workdir=ctx.workdir,
                env=env,
                stall_timeout_secs=ws.settings.stall_timeout_secs,
            )
            outcome = answer.outcome
            failed = answer.problem is not None and outcome.ok
            run.end(outcome, status="error" if failed else None, error=answer.problem)
    finally:
        economy.close()
    if answer.data is None:
        raise RunFailedError(f"the model did not draft the agent: {answer.problem}")
    data = answer.data
    try:
        spec = make_spec(
            name=name,
            description=data.get("description", ""),
            prompt=data.get("prompt", ""),
            tools=data.get("tools"),
            model=model,
        )
    except AgentFormatError as exc:
        raise RunFailedError(f"the model's draft is not a valid agent: {exc}") from exc
    return spec, answer.outcome.cost_usd
