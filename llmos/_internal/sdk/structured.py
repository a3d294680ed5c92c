"""Ask the model for JSON that matches a schema: the SDK's structured output.

With `output_format={"type": "json_schema", ...}` the bundled CLI offers the model one tool,
`StructuredOutput`, whose input schema is ours; it validates the call against the schema
(an invalid call comes back to the model as a tool error, and it tries again), re-prompts a
model that answered in prose instead, and reports the accepted JSON in
`ResultMessage.structured_output`. No JSON is ever scraped out of prose here.

Used for the orchestrator's plan and for drafting agent files. Imports the SDK runner
lazily, like Learner mode: importing this module costs nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.sdk.types import AgentOutcome, AgentRequest

# One call, one schema retry by the CLI, one re-prompt: more turns mean the model is lost.
STRUCTURED_MAX_TURNS = 4


@frozen
class StructuredAnswer:
    """The model's JSON answer (when it gave a valid one), and how the call went."""

    data: dict[str, Any] | None  # None: the model never produced valid output
    outcome: AgentOutcome

    @property
    def problem(self) -> str | None:
        """Why there is no data, or None."""
        if self.data is not None:
            return None
        if not self.outcome.ok:
            details = "; ".join(self.outcome.errors)
            return f"the model call ended with {self.outcome.status}" + (
                f": {details}" if details else ""
            )
        return "the model answered without producing output in the required format"


async def ask_structured(
    ctx: RunContext,
    *,
    prompt: str,
    system: str,
    schema: dict[str, Any],
    budget_usd: float,
    model: str | None,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout_secs: float | None = None,
    stall_timeout_secs: float | None = None,
) -> StructuredAnswer:
    """One tool-less model call whose answer must match `schema`. Cost lands on `ctx`."""
    # the SDK is loaded only when a model is needed
    from llmos._internal.sdk.runner import run_agent

    request = _tool_less(
        prompt, system, budget_usd, model, workdir, env, timeout_secs, stall_timeout_secs
    )
    request = dataclasses.replace(request, max_turns=STRUCTURED_MAX_TURNS, output_schema=schema)
    outcome = await run_agent(request, ctx)
    data = outcome.structured_output
    return StructuredAnswer(data if isinstance(data, dict) else None, outcome)


async def ask_text(
    ctx: RunContext,
    *,
    prompt: str,
    system: str,
    budget_usd: float,
    model: str | None,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout_secs: float | None = None,
    stall_timeout_secs: float | None = None,
) -> AgentOutcome:
    """One tool-less model call answered in prose (the orchestrator's synthesis)."""
    from llmos._internal.sdk.runner import run_agent

    request = _tool_less(
        prompt, system, budget_usd, model, workdir, env, timeout_secs, stall_timeout_secs
    )
    return await run_agent(request, ctx)


def _tool_less(
    prompt: str,
    system: str,
    budget_usd: float,
    model: str | None,
    workdir: Path,
    env: dict[str, str] | None,
    timeout_secs: float | None,
    stall_timeout_secs: float | None,
) -> AgentRequest:
    """A request with no tools and no hooks: the model only answers."""
    return AgentRequest(
        prompt=prompt,
        workdir=workdir,
        hooks=[],
        budget_usd=budget_usd,
        model=model,
        max_turns=2,
        timeout_secs=timeout_secs,
        stall_timeout_secs=stall_timeout_secs,
        tools=(),
        env=env or {},
        system_prompt=system,
    )
