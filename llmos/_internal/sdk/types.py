"""What llmos asks of the agent and what it gets back: no SDK types here."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmos._internal.agents.spec import DEFAULT_TOOLS
from llmos._internal.frozen import frozen
from llmos._internal.kernel.hooks import HookSpec

if TYPE_CHECKING:
    from llmos._internal.agents.spec import AgentSpec
    from llmos._internal.plugins.run_tools import RunTools

AgentStatus = Literal[
    "success",
    "error",
    "max_turns",
    "budget_exhausted",
    "timed_out",
    # Set by governance (llmos/_internal/engine/governed/session.py) on a run the agent finished:
    "governance_failed",  # sent back at its end too often, it still broke a checker
    "stopped",  # a router ended it (or asked a human, who ended it, or nobody could answer)
    "handed_off",  # a router handed the rest of its goal to another agent's run
]


@frozen
class AgentRequest:
    """One agent run, as llmos asks the SDK adapter for it."""

    prompt: str
    workdir: Path
    hooks: list[HookSpec]
    budget_usd: float
    model: str | None = None
    max_turns: int | None = None
    timeout_secs: float | None = None
    stall_timeout_secs: float | None = None  # the watchdog (llmos/_internal/kernel/watchdog.py)
    tool_timeout_secs: float | None = None
    system_prompt_append: str = ""
    tools: tuple[str, ...] = DEFAULT_TOOLS
    env: dict[str, str] = field(default_factory=dict)
    # Subagents the model may delegate to with the Agent tool (SDK AgentDefinitions).
    agents: tuple[AgentSpec, ...] = ()
    # Plugin tools offered as in-process MCP tools (llmos/_internal/sdk/plugin_tools.py).
    plugin_tools: RunTools | None = None
    # Structured output: the model must answer with JSON matching this schema (the CLI
    # offers it a StructuredOutput tool and validates the call); see AgentOutcome.
    output_schema: dict[str, Any] | None = None
    # A plain system prompt instead of Claude Code's (whose ~7k characters a tool-less
    # call such as planning does not need); `system_prompt_append` is then ignored.
    system_prompt: str | None = None
    # Continue this earlier conversation (an AgentOutcome.session_id) instead of a new one,
    # and what it has cost so far: the CLI's total_cost_usd goes on counting from there.
    resume: str | None = None
    resume_cost_usd: float = 0.0
    # The CLI's sandbox settings (llmos/_internal/security/sandbox.py cli_settings): every Bash
    # command runs inside it; None: commands run unsandboxed.
    sandbox: dict[str, Any] | None = None


@frozen
class AgentOutcome:
    """How an agent run ended, as the SDK reported it, in llmos's terms."""

    status: AgentStatus
    result_text: str
    cost_usd: float
    turns: int
    input_tokens: int
    output_tokens: int
    model: str | None
    session_id: str | None
    duration_secs: float
    errors: tuple[str, ...] = ()
    structured_output: Any = None  # the JSON the model gave, when output_schema was set

    @property
    def ok(self) -> bool:
        return self.status == "success"
