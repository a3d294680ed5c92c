"""Client conversations: how requests are grouped, and each conversation as an llmos run.

**Grouping.** The Messages API is stateless: each request carries the whole conversation.
The gateway puts a request in a conversation by, in order:

1. a session header the client sends (`x-claude-code-session-id`: Claude Code's session,
   its subagents' requests included; or `x-llmos-conversation` for any client): the
   conversation id is a hash of it, so the same session after a gateway restart goes on;
2. the tool calls it answers: a request whose earlier assistant turns hold a `tool_use` id
   the gateway released belongs to that id's conversation;
3. its opening: a request with a single turn starts a new conversation; a longer one goes on
   the latest conversation that opened with the same system prompt and first user message;
4. otherwise a new conversation.

Each is scoped by the client's identity (its gateway key, or a hash of its own API key), so
two clients never share one.

**A conversation is a run**: a `RunContext` with its event bus and hash-chained session log
(`llmos sessions show RUN`), a guard (policy, approver, audit rows), a cost meter fed with
the usage the upstream reports, and a trace recorder. It is charged to the ledger when it
closes: idle for `idle_close_secs`, or the gateway stopping. A client that comes back later
goes on in a new run of the same conversation.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from llmos._internal.engine.lifecycle import finish_run
from llmos._internal.frozen import frozen
from llmos._internal.gateway.audit import BackgroundAudit
from llmos._internal.gateway.events import ModelCalled, StepCaptured
from llmos._internal.gateway.guard import GatewayGuard
from llmos._internal.gateway.message import TOOL_BLOCKS, ToolCall
from llmos._internal.governance.current import governance_for
from llmos._internal.governance.kinds import classify
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.economy import RunRecord, RunStatus
from llmos._internal.kernel.events import (
    AssistantText,
    CostUpdated,
    RunStarted,
    ToolFinished,
    ToolRequested,
)
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.capture import TraceRecorder
from llmos._internal.memory.session_log import SessionLog
from llmos._internal.security.decision import deny
from llmos._internal.security.guard import Review
from llmos._internal.security.policy_file import load_policy
from llmos._internal.text import one_line

if TYPE_CHECKING:
    from llmos._internal.engine.governed.session import GovernanceSession
    from llmos._internal.gateway.config import GatewayConfig
    from llmos._internal.gateway.store import GatewayKey, GatewayStore
    from llmos._internal.kernel.economy import TokenEconomy
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)

Report = Callable[[str, dict[str, Any]], None]  # what the gateway's terminal shows
_MAX_REMEMBERED_CALLS = 100_000
_MAX_AWAITING = 10_000
UNDECIDED = (
    "The gateway could not decide on this call (an internal error), so it is not run. Try "
    "another way."
)


def _no_report(kind: str, fields: dict[str, Any]) -> None:
    return None


@frozen
class Released:
    """A tool call the client received, waiting for its result."""

    tool: str  # the client's name for it
    kind: str  # the policy's kind: the trace step's tool
    input: dict[str, Any]  # in the kind's field names: the trace step's input


class Conversation:
    def __init__(
        self,
        conversation_id: str,
        *,
        key: GatewayKey | None,
        title: str,
        ctx: RunContext,
        guard: GatewayGuard,
        owner: Conversations,
        governance: GovernanceSession | None = None,
    ) -> None:
        self.id = conversation_id
        self.key = key
        self.title = title
        self.ctx = ctx
        self.guard = guard
        self.owner = owner
        self.recorder = TraceRecorder(ctx.workdir)
        self.governance = governance  # the project's, when its policy declares one
        self.released: dict[str, Released] = {}
        self.in_flight = 0
        self.last_active = time.monotonic()
        self.model_calls = 0
        self.spent_usd = 0.0  # the cost meter's figure, kept here: it sums every message
        self.status: RunStatus = "success"
        self.error: str | None = None
        self.closed = False
        # What the database does not know yet: written once per request (`flush`).
        self._counts: dict[str, float] = {}
        self._model: str | None = None

    @property
    def run_id(self) -> str:
        return self.ctx.run_id

    # Requests ------------------------------------------------------------------------------
    def begin(self, body: Mapping[str, Any]) -> None:
        """A client request arrives: count it, and capture the tool results it carries."""
        self.last_active = time.monotonic()
        self._count(requests=1)
        if self.released:
            self._capture_results(body.get("messages") or [])

    def working(self) -> None:
        """Work on a request starts: a conversation is never closed while it is busy."""
        self.in_flight += 1

    def done_working(self) -> None:
        self.in_flight -= 1
        self.last_active = time.monotonic()
        self.flush()

    @property
    def unwritten_usd(self) -> float:
        return self._counts.get("cost_usd", 0.0)

    def _count(self, **increments: float) -> None:
        for name, value in increments.items():
            self._counts[name] = self._counts.get(name, 0) + value

    def flush(self) -> None:
        """Write the conversation's new counts (one transaction per request, not one per
        event: the event loop does not wait on the disk more than it must)."""
        if self.closed:
            return  # closed with the gateway while a request was cut short: counted then
        counts, self._counts = self._counts, {}
        if counts:
            self.owner.store.count(self.id, **counts)
        if self._model is not None:
            self.owner.store.set_model(self.id, self._model)
            self._model = None

    @contextmanager
    def busy(self) -> Iterator[None]:
        self.working()
        try:
            yield
        finally:
            self.done_working()

    def _capture_results(self, messages: list[Any]) -> None:
        for message in messages:
            if not isinstance(message, dict) or message.get("role") != "user":
                continue
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    call = self.released.pop(str(block.get("tool_use_id")), None)
                    if call is not None:
                        self._captured(str(block.get("tool_use_id")), call, block)

    def _captured(self, tool_use_id: str, call: Released, block: dict[str, Any]) -> None:
        ok = not block.get("is_error")
        step = self.recorder.record(
            call.kind, call.input, ok=ok, response=block.get("content"), tool_use_id=tool_use_id
        )
        self.recorder.steps.clear()  # the session log keeps them (StepCaptured)
        bus = self.ctx.bus
        bus.publish(
            ToolFinished(
                run_id=self.run_id,
                tool_use_id=tool_use_id,
                tool=call.tool,
                ok=ok,
                summary=step.result,
            )
        )
        bus.publish(StepCaptured(run_id=self.run_id, tool_use_id=tool_use_id, step=asdict(step)))
        if self.governance is not None:
            self.governance.finished(tool_use_id, ok=ok, summary=step.result)

    # Tool calls ----------------------------------------------------------------------------
    async def decide(self, call: ToolCall) -> Review:
        """The decision on one tool call of the model's (the approver asked if need be)."""
        ctx = self.ctx
        if call.reasoning and self.owner.config.record_reasoning:
            ctx.bus.publish(
                AssistantText(run_id=self.run_id, text=call.reasoning, agent="reasoning")
            )
        kind, tool_input = self._as_policy_sees(call.name, call.input)
        ctx.bus.publish(
            ToolRequested(
                run_id=self.run_id,
                tool_use_id=call.id,
                tool=call.name,
                input=call.input,
                step_type=classify(kind, tool_input).type,
            )
        )
        ctx.tool_calls += 1
        try:
            review = await self.guard.review(call.name, call.input, tool_use_id=call.id)
        except Exception:  # fail closed: a call nobody could decide is not released
            log.warning("the gateway could not decide on a %s call", call.name, exc_info=True)
            refused = deny("gateway-error", UNDECIDED)
            review = Review(refused, refused, dict(call.input))
        if review.allowed and self.governance is not None:
            review = await self._governed(call, review)
        self._count(tool_calls=1, denied=0 if review.allowed else 1)
        self.owner.report(
            "decision",
            {
                "conversation": self.id,
                "tool": call.name,
                "input": review.tool_input,
                "allowed": review.allowed,
                "policy": review.policy.action,
                "rule": review.decision.rule,
                "reason": review.decision.reason,
                "approved_by": review.approved_by,
            },
        )
        return review

    async def _governed(self, call: ToolCall, review: Review) -> Review:
        """The run's governance on a call the policy allowed: its checkers over the
        conversation's history (llmos/_internal/governance/session.py); a failed one denies the
        call, and the model is told why, as for any denial."""
        assert self.governance is not None
        kind, tool_input = self._as_policy_sees(call.name, review.tool_input)
        output = await self.governance.before_call(
            {"tool_name": kind, "tool_input": tool_input, "tool_use_id": call.id}
        )
        reason = (output.get("hookSpecificOutput") or {}).get("permissionDecisionReason")
        if not reason:
            return review
        return Review(deny("governance", str(reason)), review.policy, review.tool_input)

    def _as_policy_sees(self, tool: str, tool_input: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The call in the policy's kind and field names (a trace step's), where the tool map
        knows the client's tool; else as the client made it."""
        mapped = self.guard.tools.resolve(tool, tool_input)
        return (mapped.kind, mapped.input) if mapped.verdict is None else (tool, tool_input)

    def answered(self, content: list[dict[str, Any]]) -> None:
        """A turn without tool calls reached the client: its text is the model's answer. The
        finish checkers are asked, for the record: the gateway cannot send the client's
        agent back to work (a Learner run's Stop hook can)."""
        if any(block.get("type") in TOOL_BLOCKS for block in content):
            return
        if self.governance is not None:
            self.governance.check_finish()
        text = "\n".join(str(b.get("text", "")) for b in content if b.get("type") == "text").strip()
        if text:
            self.ctx.bus.publish(AssistantText(run_id=self.run_id, text=text))

    def release(self, call: ToolCall, review: Review) -> None:
        """The client receives this call (with `review.tool_input`): wait for its result."""
        mapped = self.guard.tools.resolve(call.name, review.tool_input)
        kind = mapped.kind if mapped.verdict is None else call.name
        self.released[call.id] = Released(call.name, kind, mapped.input)
        self.recorder.before_call(call.id, kind, mapped.input)  # the step's preconditions
        self.owner.remember_call(call.id, self.id)

    # Model calls ---------------------------------------------------------------------------
    def model_called(
        self,
        *,
        message_id: str,
        model: str,
        usage: dict[str, int],
        stream: bool,
        attempt: int,
        status: int,
        stop_reason: str | None,
        started: float,
        error: str | None = None,
    ) -> None:
        """Record one upstream call: its usage priced (llmos/_internal/kernel/cost.py), the run's
        spend, the conversation's counters."""
        ctx = self.ctx
        before = self.spent_usd
        if usage:
            self.spent_usd = ctx.cost.observe(message_id or uuid.uuid4().hex, model, usage)
        cost = self.spent_usd - before
        self.model_calls += 1
        if model and model != ctx.model:
            ctx.model = self._model = model
        if error is not None:
            self.status, self.error = "error", error
        elif status == 200:
            self.status, self.error = "success", None
        ctx.bus.publish(
            ModelCalled(
                run_id=self.run_id,
                model=model,
                stream=stream,
                attempt=attempt,
                status=status,
                usage=usage,
                cost_usd=round(cost, 8),
                stop_reason=stop_reason,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                error=error,
            )
        )
        if cost:
            ctx.bus.publish(CostUpdated(run_id=self.run_id, spent_usd=self.spent_usd))
        self._count(model_calls=1, cost_usd=cost)


class Conversations:
    """The open conversations of one gateway, and the rules that group requests into them."""

    def __init__(
        self,
        ws: Workspace,
        config: GatewayConfig,
        store: GatewayStore,
        economy: TokenEconomy,
        approver: Approver,
        report: Report | None = None,
    ) -> None:
        self.ws = ws
        self.config = config
        self.store = store
        self.economy = economy
        self.approver = approver
        self.report = report or _no_report
        self.tools = config.tool_map()
        self._open: dict[str, Conversation] = {}
        self._by_call: dict[str, str] = {}  # released tool_use id -> conversation id
        self._sealing: set[asyncio.Future[None]] = set()
        # Closed conversations' released calls whose results have not come back yet.
        self._awaiting: dict[str, tuple[dict[str, Released], TraceRecorder]] = {}
        self.audit = BackgroundAudit(ws.audit_db_path)

    @property
    def open(self) -> list[Conversation]:
        return list(self._open.values())

    def remember_call(self, tool_use_id: str, conversation_id: str) -> None:
        if len(self._by_call) >= _MAX_REMEMBERED_CALLS:
            self._by_call.pop(next(iter(self._by_call)))
        self._by_call[tool_use_id] = conversation_id

    # Grouping ------------------------------------------------------------------------------
    def route(
        self, body: Mapping[str, Any], headers: Mapping[str, str], key: GatewayKey | None, who: str
    ) -> Conversation:
        """The conversation a request belongs to (opened, or opened again, if need be).
        `who`: the client's identity when it has no gateway key (a hash of its API key)."""
        identity = f"key:{key.id}" if key is not None else f"client:{who}"
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        title = one_line(first_user_text(messages), 200) or "(no text)"
        fingerprint = _digest(identity, system_text(body), first_user_text(messages))
        session = next((headers[h] for h in self.config.session_headers if headers.get(h)), None)
        if session is not None:
            conversation_id = _digest(identity, "session", session)[:12]
        else:
            conversation_id = self._continued(messages, fingerprint) or uuid.uuid4().hex[:12]
        conversation = self._open.get(conversation_id)
        if conversation is None:
            if len(self._open) >= self.config.max_open_conversations:
                self._make_room()
            conversation = self._start(conversation_id, key, fingerprint, title)
        return conversation

    def _continued(self, messages: list[dict[str, Any]], fingerprint: str) -> str | None:
        for message in reversed(messages):
            if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
                continue
            for block in message["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    known = self._by_call.get(str(block.get("id")))
                    if known is not None:
                        return known
        turns = sum(1 for m in messages if m.get("role") != "system")
        if turns <= 1:
            return None  # a conversation's first request
        return self.store.latest_with(fingerprint)

    def _start(
        self, conversation_id: str, key: GatewayKey | None, fingerprint: str, title: str
    ) -> Conversation:
        config, ws = self.config, self.ws
        bus = EventBus()
        ctx = RunContext(
            goal=title,
            project=config.project,
            workdir=config.workdir,
            mode="gateway",
            budget_usd=self._budget(key),
            bus=bus,
        )
        again = self.store.exists(conversation_id)
        SessionLog(ws.sessions_dir, ctx.run_id).attach(bus)  # sealed when the bus closes
        who = f"key {key.name}" if key is not None else "a client with its own API key"
        bus.publish(
            RunStarted(
                run_id=ctx.run_id,
                goal=title,
                mode="gateway",
                project=config.project,
                workdir=str(config.workdir),
                model=None,
                budget_usd=ctx.budget_usd,
                reason=f"gateway conversation {conversation_id}"
                + (" (continued)" if again else "")
                + f", from {who}",
            )
        )
        policy = load_policy(ws.root, config.project)  # files re-read only when changed
        declared = governance_for(ws.root, config.project)
        governance = None
        if declared is not None:
            from llmos._internal.engine.governed.session import GovernanceSession

            governance = GovernanceSession(ctx, declared, approver=self.approver)
        guard = GatewayGuard(
            ctx, policy, tools=self.tools, approver=self.approver, audit=self.audit
        )
        conversation = Conversation(
            conversation_id,
            key=key,
            title=title,
            ctx=ctx,
            guard=guard,
            owner=self,
            governance=governance,
        )
        carried = self._awaiting.pop(conversation_id, None)
        if carried is not None:  # calls released in its previous run, results still to come
            conversation.released, conversation.recorder = carried
        self.store.open_conversation(
            conversation_id,
            run_id=ctx.run_id,
            key=key,
            fingerprint=fingerprint,
            title=title,
            workdir=config.workdir,
        )
        self._open[conversation_id] = conversation
        self.report(
            "opened",
            {
                "conversation": conversation_id,
                "run_id": ctx.run_id,
                "again": again,
                "key": key.name if key else None,
                "title": title,
            },
        )
        return conversation

    # Money ---------------------------------------------------------------------------------
    def _budget(self, key: GatewayKey | None) -> float:
        """What a new conversation may spend, as far as is known when it opens."""
        limits = [self.economy.balance - self.unpaid_usd()]
        if self.config.conversation_budget_usd is not None:
            limits.append(self.config.conversation_budget_usd)
        if key is not None and key.left_usd is not None:
            limits.append(key.left_usd)
        return max(min(limits), 0.0)

    def unwritten_usd(self, key_id: int) -> float:
        """What the open conversations of a key spent that the database does not have yet."""
        return sum(
            c.unwritten_usd for c in self._open.values() if c.key is not None and c.key.id == key_id
        )

    def unpaid_usd(self) -> float:
        """What the open conversations spent: charged to the ledger when they close."""
        return sum(c.spent_usd for c in self._open.values())

    # Closing -------------------------------------------------------------------------------
    async def close(self, conversation: Conversation, *, status: RunStatus | None = None) -> None:
        """Close a conversation's run: its ledger row (charged), `RunFinished`, the seal."""
        if self._finish(conversation, status):
            await self._seal(conversation)

    def _finish(self, conversation: Conversation, status: RunStatus | None) -> bool:
        """The part of closing that does not wait: the run's ledger row and `RunFinished`.
        False if it was closed already, or could not be recorded (then not to be sealed)."""
        if self._open.pop(conversation.id, None) is None:
            return False
        conversation.flush()
        conversation.closed = True
        if conversation.released:  # a long tool still running: its result goes to the next run
            if len(self._awaiting) >= _MAX_AWAITING:
                self._awaiting.pop(next(iter(self._awaiting)))
            self._awaiting[conversation.id] = (conversation.released, conversation.recorder)
        ctx = conversation.ctx
        finished = time.time()
        record = RunRecord(
            run_id=ctx.run_id,
            started_at=ctx.started_at,
            finished_at=finished,
            goal=ctx.goal,
            project=ctx.project,
            mode="gateway",
            model=ctx.model,
            status=status or conversation.status,
            cost_usd=conversation.spent_usd,
            input_tokens=ctx.cost.input_tokens,
            output_tokens=ctx.cost.output_tokens,
            turns=conversation.model_calls,
            tool_calls=ctx.tool_calls,
            duration_secs=finished - ctx.started_at,
            error=conversation.error,
        )
        spent = conversation.spent_usd
        ctx.bus.publish(CostUpdated(run_id=ctx.run_id, spent_usd=spent, final=True))
        try:
            finish_run(ctx, self.economy, record)
        except Exception:
            # A full disk, a damaged ledger: the log stays unsealed and this process's lease
            # stays, so the next llmos command records the run from its log.
            log.warning("could not record run %s in the ledger", ctx.run_id, exc_info=True)
            from llmos._internal.recovery import leave_unfinished

            leave_unfinished()
            return False
        self.store.close_conversation(conversation.id)
        self.report(
            "closed",
            {
                "conversation": conversation.id,
                "run_id": ctx.run_id,
                "status": record.status,
                "cost_usd": record.cost_usd,
                "tool_calls": record.tool_calls,
            },
        )
        return True

    async def _seal(self, conversation: Conversation) -> None:
        await conversation.ctx.bus.close()  # the session log seals itself

    def _make_room(self) -> None:
        """At `max_open_conversations`, the least recently active idle ones close (a client
        that comes back goes on in a new run): a gateway serving many one-off requests
        keeps a bounded number of runs, logs and their writer threads open."""
        idle = sorted(
            (c for c in self._open.values() if c.in_flight == 0), key=lambda c: c.last_active
        )
        excess = len(self._open) - self.config.max_open_conversations + 1
        for conversation in idle[: max(excess, 0)]:
            if self._finish(conversation, None):
                self._sealing.add(asyncio.ensure_future(self._seal(conversation)))
                self._sealing = {t for t in self._sealing if not t.done()}

    async def close_idle(self) -> None:
        limit = self.config.idle_close_secs
        now = time.monotonic()
        for conversation in self.open:
            if conversation.in_flight == 0 and now - conversation.last_active >= limit:
                await self.close(conversation)

    async def close_all(self) -> None:
        """The gateway stops: every conversation closes (one cut short is `interrupted`)."""
        for conversation in self.open:
            interrupted = conversation.in_flight > 0
            await self.close(conversation, status="interrupted" if interrupted else None)
        if self._sealing:
            await asyncio.wait(self._sealing)


def first_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the first user message, without the reminders a client puts before it."""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [
                str(b.get("text", ""))
                for b in content
                if isinstance(b, dict) and b.get("type") == "text"
            ]
            return "\n".join(t for t in texts if not t.lstrip().startswith("<system-reminder>"))
        return ""
    return ""


def system_text(body: Mapping[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()


def client_identity(secret: str | None) -> str:
    """Who a client is when it brings its own API key: a short hash of it (never the key)."""
    if not secret:
        return "anonymous"
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
