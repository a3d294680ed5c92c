"""The security policy at run time: one decision per tool call, a human's approval for what the
policy asks about, and a record of every decision (a `ToolDecision` event for the session log,
and a row of the audit table).

Learner's security hook (`llmos/_internal/engine/builtin_hooks.py`, subagents' calls included) and
Follower's replay (`llmos/_internal/modes/follower.py`) review each call through a `RunGuard`:

- the policy says **allow** or **deny**: that is the decision;
- it says **ask**: the run's approver is asked (the terminal, the REPL, or `--yes`), and the
  call runs as it is, runs as the human changed it (if the changed call passes the policy), or
  is refused. With no approver (no terminal, `--json`, a scheduled run) the call is refused,
  and the model told that only a human could have approved it.

What the policy denies is never put to an approver: `--yes` approves questions, not denials.

The guard sees a run's calls in order (a replay's preflight checks its steps in order too), and
remembers what each call it does not deny writes (`RunFiles`): a later call that runs one of
those files (``sh cleanup.sh`` after a Write of cleanup.sh, ``make`` after a Makefile, ``npm
test`` after a package.json) is judged by what the file does. Files that were already in the
workspace are read from disk when a call runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from llmos._internal.frozen import frozen
from llmos._internal.kernel.events import ToolDecision
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.security.audit import AuditLog
from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.policy import Policy, check_tool_call
from llmos._internal.security.policy_file import default_policy, load_policy
from llmos._internal.security.run_files import RunFiles

if TYPE_CHECKING:
    from llmos._internal.security.approval import Approver, Resolution
    from llmos._internal.workspace import Workspace

NOBODY_TO_ASK = (
    "This call needs a human's approval, and nobody can give it in this run (no terminal). "
    "The policy says: {reason} Reach the goal another way; the user can re-run with --yes to "
    "approve such calls."
)
ASKED_TOO_LATE = (
    "The policy asks about this step only now that the replay is under way (it says: "
    "{reason}); a replay puts its questions before its first step, so it stops here."
)


@frozen
class Review:
    """What became of one call: its final decision, what the policy said, and what runs."""

    decision: Decision  # final: allow or deny, with the rule and reason the model is given
    policy: Decision  # the policy's own verdict (allow, ask or deny)
    tool_input: dict[str, Any]  # what runs: a human may have changed it
    approved_by: str | None = None
    changed: bool = False
    resolution: Resolution | None = field(default=None, repr=False)

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


class RunGuard:
    """The policy, the approver and the audit trail of one run."""

    def __init__(
        self,
        ctx: RunContext,
        policy: Policy | None = None,
        *,
        approver: Approver | None = None,
        audit: AuditLog | None = None,
        source: str = "learner",
    ) -> None:
        self.ctx = ctx
        self.policy = policy or default_policy()
        self.approver = approver
        self.audit = audit
        self.source = source
        self.files = RunFiles()  # what the run's calls wrote, for the scripts later ones run

    def check(self, tool: str, tool_input: Mapping[str, Any]) -> Decision:
        """The policy's verdict on a call, given what the run's earlier calls wrote; what this
        one writes is remembered unless it is denied. (The run's own tool restrictions, a
        project's denied tools and the plugin tools loaded, are the tool-policy guard's:
        llmos/plugins/.)"""
        ctx = self.ctx
        return check_tool_call(
            tool,
            tool_input,
            workdir=ctx.workdir,
            home=ctx.home,
            policy=self.policy,
            files=self.files,
        )

    async def review(
        self,
        tool: str,
        tool_input: Mapping[str, Any],
        *,
        tool_use_id: str,
        agent: str | None = None,
        approved: Review | None = None,
    ) -> Review:
        """Decide on one call, asking the approver if the policy asks; publish and record it.
        `approved`: this call was already approved (a replay asks before its first step)."""
        verdict = self.check(tool, tool_input)
        if not (verdict.asks and self.approver is not None and not _approved(approved)):
            return self._settle(tool, tool_input, verdict, tool_use_id, approved)
        # Imported here: only a call put to a human needs the approval machinery.
        from llmos._internal.security.approval import ApprovalRequest, publish_resolution, resolve

        request = ApprovalRequest(
            self.ctx.run_id, tool, dict(tool_input), verdict.reason, verdict.rule, agent
        )
        with self.ctx.waiting_for_human():
            res = await resolve(self.approver, request, self.check)
        publish_resolution(self.ctx, tool, tool_use_id, res)
        final = Decision("allow" if res.allowed else "deny", res.reason, res.rule)
        review = Review(final, verdict, res.tool_input, res.approved_by, res.changed, res)
        self._record(tool, tool_input, review)
        return review

    def review_now(
        self,
        tool: str,
        tool_input: Mapping[str, Any],
        *,
        tool_use_id: str,
        approved: Review | None = None,
    ) -> Review:
        """`review` for code that cannot wait for a human (a replay's steps, once running):
        what the policy would ask about, and nobody approved already, is refused."""
        verdict = self.check(tool, tool_input)
        unasked = ASKED_TOO_LATE if self.approver is not None else NOBODY_TO_ASK
        return self._settle(tool, tool_input, verdict, tool_use_id, approved, unasked)

    def _settle(
        self,
        tool: str,
        tool_input: Mapping[str, Any],
        verdict: Decision,
        tool_use_id: str,
        approved: Review | None,
        unasked: str = NOBODY_TO_ASK,
    ) -> Review:
        """Decide without asking: the policy's verdict, an approval given before, or a refusal
        (`unasked`, a template of the reason) of what only a human could have approved."""
        if verdict.asks and _approved(approved):
            assert approved is not None
            final = Decision("allow", "approved before the replay started", verdict.rule)
            self._publish(tool, tool_use_id, final, verdict, approved.approved_by)
            return Review(final, verdict, dict(tool_input), approved.approved_by)
        final = verdict
        if verdict.asks:
            final = deny(verdict.rule, unasked.format(reason=verdict.reason))
        self._publish(tool, tool_use_id, final, verdict)
        review = Review(final, verdict, dict(tool_input))
        self._record(tool, tool_input, review)
        return review

    def _publish(
        self,
        tool: str,
        tool_use_id: str,
        final: Decision,
        verdict: Decision,
        approved_by: str | None = None,
    ) -> None:
        if not final.allowed:
            self.ctx.count_refusal(tool)
        self.ctx.bus.publish(
            ToolDecision(
                run_id=self.ctx.run_id,
                tool_use_id=tool_use_id,
                tool=tool,
                allowed=final.allowed,
                guard="approval" if approved_by else "security",
                rule=final.rule,
                reason=final.reason,
                decision=verdict.action,
                approved_by=approved_by,
            )
        )

    def close(self) -> None:
        """The run is over: close its audit trail's connection."""
        if self.audit is not None:
            self.audit.close()

    def _record(self, tool: str, tool_input: Mapping[str, Any], review: Review) -> None:
        if self.audit is None:
            return
        self.audit.record(
            run_id=self.ctx.run_id,
            source=self.source,
            tool=tool,
            tool_input=tool_input,
            decision=review.decision.action,
            policy_decision=review.policy.action,
            rule=review.decision.rule,
            reason=review.decision.reason,
            approved_by=review.approved_by,
            ran_input=review.tool_input if review.changed else None,
        )


def _approved(earlier: Review | None) -> bool:
    return earlier is not None and earlier.allowed


def run_guard(
    ws: Workspace,
    ctx: RunContext,
    approver: Approver | None,
    *,
    source: str,
    policy: Policy | None = None,
) -> RunGuard:
    """The guard of a run in `ws`: the policy of its workspace and project (`policy`, if the
    caller loaded it already), the approver the caller has (if any), and the audit table."""
    policy = policy or load_policy(ws.root, ctx.project)
    return RunGuard(ctx, policy, approver=approver, audit=AuditLog(ws.audit_db_path), source=source)
