"""Follower's trust gate: a trace not learned here replays only once a human approved its plan.

The dispatcher asks `trust_of` about the trace it chose to replay
(llmos/_internal/security/trust.py). An untrusted trace (imported, edited, or put in the library by
hand) is put to a human when the run has one (`llmos run` in a terminal, the REPL): "this trace was
imported from X; replay it?", with its plan. Approved, it is trusted from then on and replays,
inside the sandbox. With nobody to ask (no terminal, `--json`, a scheduled run, `--yes`: `--yes`
approves the policy's questions, never a trace) it does not replay: in auto mode the goal is
learned instead (the untrusted trace is not even shown to the model), otherwise the run
stops with a hint to run `llmos traces trust ID`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from llmos._internal.errors import TraceNotTrustedError
from llmos._internal.security.trust import TrustState, TrustStore

if TYPE_CHECKING:
    from llmos._internal.engine.types import RunRequest
    from llmos._internal.memory.trace import Trace
    from llmos._internal.replay.plan import ReplayPlan
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)
RULE = "untrusted-trace"


def trust_of(ws: Workspace, trace: Trace) -> TrustState:
    with TrustStore.of(ws) as store:
        return store.check(trace)


def asks_a_human(approver: Approver | None) -> bool:
    """Whether `approver` is a person (`--yes` is not: it never trusts a trace)."""
    return approver is not None and bool(getattr(approver, "asks_a_human", True))


def plan_lines(plan: ReplayPlan, *, width: int = 160) -> list[str]:
    """What a replay of `plan` would do, one line a step (the steps it runs), then the files
    it writes: what a human reads before trusting a trace."""
    from llmos._internal.text import one_line

    lines = []
    for planned in plan.to_run:
        step = planned.step
        value = step.input.get("command") or step.input.get("file_path")
        value = value or step.input.get("notebook_path") or json.dumps(step.input)
        lines.append(f"{planned.number}. {step.tool}: {one_line(str(value), width)}")
    if not lines:
        lines.append("(no step runs: it only gives its recorded answer)")
    files = plan.files_touched()
    if files:
        lines.append("files written: " + ", ".join(files))
    return lines


async def ask_to_trust(
    ws: Workspace,
    approver: Approver,
    trace: Trace,
    plan: ReplayPlan,
    state: TrustState,
) -> TrustState:
    """Put the trace and its plan to the human; their approval is recorded."""
    from llmos._internal.security.approval import ApprovalRequest, Approve

    question = (
        f"this trace was {state.explain()}; replay it (inside the sandbox)? It would run:\n    "
        + "\n    ".join(plan_lines(plan, width=120))
    )
    request = ApprovalRequest(
        run_id="",
        tool="Replay",
        input={"description": f"trace {trace.goal_signature}: {trace.goal_text}"},
        reason=question,
        rule=RULE,
    )
    try:
        verdict = await approver.approve(request)
    except Exception:  # a failing prompt must not let the trace through
        log.warning("the approver failed on trace %s", trace.goal_signature, exc_info=True)
        return state
    if not isinstance(verdict, Approve):  # a rejection, or an edit (a plan is not edited)
        return state
    with TrustStore.of(ws) as store:
        return store.approve(trace, by=verdict.by)


def refusal(request: RunRequest, state: TrustState, *, learner_possible: bool) -> str:
    """Why the run learns its goal instead of replaying its untrusted trace (auto mode, when
    a model can be reached); otherwise raises `TraceNotTrustedError`."""
    signature = state.signature
    why = f"trace {signature} matches, but it was {state.explain()}"
    if request.mode != "auto" or request.trace_id or not learner_possible:
        hint = f"Look at its plan and approve it: llmos traces trust {signature}"
        raise TraceNotTrustedError(f"{why}; it was not replayed", hint=hint)
    return f"auto: {why} (`llmos traces trust {signature}` to replay it)"
