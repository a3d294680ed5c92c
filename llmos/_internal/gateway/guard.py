"""The policy as the gateway applies it: a `RunGuard` (llmos/_internal/security/guard.py) whose
verdict first maps the client's tool onto the policy's kinds (llmos/_internal/gateway/toolmap.py).

Everything else is the run guard's: the approver for what the policy asks about (a changed
call is checked again through this same `check`), the `ToolDecision` events and the audit
rows. The approver and the audit trail see the call as the client made it (its tool name
and input), so a human edits what the client will run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.security.decision import Decision
from llmos._internal.security.guard import RunGuard
from llmos._internal.security.policy import Policy, check_tool_call

if TYPE_CHECKING:
    from llmos._internal.gateway.toolmap import ToolMap
    from llmos._internal.kernel.run_context import RunContext
    from llmos._internal.security.approval import Approver
    from llmos._internal.security.audit import AuditLog

# The policy's rules for a tool it does not know by name: the gateway's setting decides.
UNKNOWN_TOOL_RULES = frozenset({"unknown-tool", "unknown-mcp-tool"})


class GatewayGuard(RunGuard):
    def __init__(
        self,
        ctx: RunContext,
        policy: Policy,
        *,
        tools: ToolMap,
        approver: Approver | None,
        audit: AuditLog | None,
    ) -> None:
        super().__init__(ctx, policy, approver=approver, audit=audit, source="gateway")
        self.tools = tools

    def check(self, tool: str, tool_input: Mapping[str, Any]) -> Decision:
        mapped = self.tools.resolve(tool, tool_input)
        if mapped.verdict is not None:
            reason = f"The gateway's tool map sets {tool} to {mapped.verdict}."
            if mapped.verdict == "deny":
                reason += " Reach the goal with other tools."
            return Decision(mapped.verdict, reason, "gateway-tool-map")  # type: ignore[arg-type]
        ctx = self.ctx
        verdict = check_tool_call(
            mapped.kind, mapped.input, workdir=ctx.workdir, home=ctx.home, policy=self.policy
        )
        if verdict.rule in UNKNOWN_TOOL_RULES:
            action = self.tools.unknown
            reason = (
                f"{tool} is a tool neither the gateway's tool map nor the security policy "
                f"knows; the gateway's setting for such tools is {action}."
            )
            if action == "deny":
                reason += " Use another tool."
            return Decision(action, reason, "gateway-unknown-tool")  # type: ignore[arg-type]
        return verdict


def workspace_rules(policy: Policy, workdir: Path) -> str:
    """A short paragraph for the model's system prompt: what the policy refuses and asks
    about, so that fewer calls are rejected."""
    lists = policy.to_dict()
    denied = [e["pattern"] for kind in ("commands", "tools") for e in lists["deny"][kind]]
    asked = [e["pattern"] for e in lists["ask"]["commands"]]
    lines = [
        "Every tool call in this conversation passes llmos's security policy before it runs.",
        f"The working folder is {workdir}: create, change and delete files only inside it.",
        "Always refused: deleting or overwriting /, the home folder, system folders or "
        "llmos's own files; reading credentials (~/.ssh, ~/.aws, other folders' .env files); "
        "running downloaded or encoded code; wiping disks, shutting down, changing start-up "
        "files, cron or services; privilege changes.",
    ]
    if denied:
        lines.append("Also refused here: " + _listing(denied) + ".")
    if asked:
        lines.append("A human is asked first about: " + _listing(asked) + ".")
    lines.append(
        "A refused call comes back as an error result saying why: take another way that "
        "the policy allows instead of trying it again."
    )
    return " ".join(lines)


def _listing(patterns: list[str], limit: int = 12) -> str:
    shown = ", ".join(f"`{p}`" for p in patterns[:limit])
    return shown + (f" and {len(patterns) - limit} more" if len(patterns) > limit else "")
