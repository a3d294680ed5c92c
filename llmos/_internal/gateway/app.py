"""The gateway's HTTP side: an ASGI application (Starlette) serving the Messages API.

Routes:

- `POST /v1/messages` (streaming or not): the client's key checked, the request put in its
  conversation, its budget checked, sent upstream, every tool call in the answer governed
  (llmos/_internal/gateway/relay.py);
- `POST /v1/messages/count_tokens` and any other `/v1/...` route: passed through, with the
  same keys and (for count_tokens) the same system addition as a message would get;
- `GET /llmos/health`: whether it is up;
- `GET /llmos/approvals`, `POST /llmos/approvals/{id}`: the questions waiting for a human
  when the approver is the HTTP queue (`--approver http`), for a console to answer. These
  need the header `x-llmos-admin-token` (the token is in `state/gateway/<port>.json`,
  readable only by its owner).

Errors the gateway gives itself have the API's shape (`{"type": "error", "error": {"type",
"message"}}`), so clients show them as they show the API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llmos._internal.errors import LowBatteryError
from llmos._internal.gateway.approvers import QueueApprover, TimedApprover
from llmos._internal.gateway.conversations import (
    Conversation,
    Conversations,
    Report,
    client_identity,
)
from llmos._internal.gateway.events import RequestRefused
from llmos._internal.gateway.guard import workspace_rules
from llmos._internal.gateway.relay import (
    Exchange,
    complete_turns,
    error_payload,
    stream_turns,
    upstream_error,
)
from llmos._internal.gateway.store import GatewayKey, GatewayStore, gateway_db
from llmos._internal.gateway.upstream import (
    Upstream,
    UpstreamError,
    presented_key,
    request_headers,
    response_headers,
)
from llmos._internal.kernel.economy import MIN_RUN_BUDGET_USD, TokenEconomy
from llmos._internal.security.policy_file import load_policy

if TYPE_CHECKING:
    from llmos._internal.gateway.config import GatewayConfig
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

ADMIN_HEADER = "x-llmos-admin-token"
_IDLE_CHECK_SECS = 30.0


def api_error(status: int, kind: str, message: str) -> JSONResponse:
    # The client must not retry what will be refused again.
    headers = {"x-should-retry": "false"} if status in (401, 402, 403) else None
    return JSONResponse(error_payload(kind, message), status_code=status, headers=headers)


class Gateway:
    """One gateway: its settings, stores, upstream, conversations, and its ASGI app."""

    def __init__(
        self,
        ws: Workspace,
        config: GatewayConfig,
        *,
        approver: Approver,
        report: Report | None = None,
    ) -> None:
        self.ws = ws
        self.config = config
        self.store = GatewayStore(gateway_db(ws.state_dir))
        self.store.close_all()  # conversations a killed gateway left open
        self.economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
        self.questions = approver if isinstance(approver, QueueApprover) else None
        timed = TimedApprover(approver, config.approval_timeout_secs)
        self.conversations = Conversations(ws, config, self.store, self.economy, timed, report)
        self.upstream = Upstream(config.upstream, timeout=config.upstream_timeout_secs)
        self.upstream_key = config.upstream_key()
        self.admin_token = secrets.token_urlsafe(24)
        self.rules: str | None = None
        if config.system_rules:
            self.rules = workspace_rules(load_policy(ws.root, config.project), config.workdir)

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.passthrough, methods=["POST"]),
                Route("/llmos/health", self.health, methods=["GET"]),
                Route("/llmos/approvals", self.approvals, methods=["GET"]),
                Route("/llmos/approvals/{question:int}", self.answer, methods=["POST"]),
                Route("/v1/{rest:path}", self.passthrough, methods=methods),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        reaper = asyncio.create_task(self._close_idle())
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await self.close()

    async def close(self) -> None:
        """Close every conversation (ledger rows, sealed logs) and the connections."""
        await self.conversations.close_all()
        self.conversations.audit.close()
        await self.upstream.close()
        self.store.close()
        self.economy.close()

    async def _close_idle(self) -> None:
        period = min(_IDLE_CHECK_SECS, self.config.idle_close_secs / 2)
        while True:
            await asyncio.sleep(period)
            await self.conversations.close_idle()

    # Keys and budgets ----------------------------------------------------------------------
    def _client(self, request: Request) -> tuple[GatewayKey | None, str, Response | None]:
        """The client's gateway key (None when it brings its own API key), its identity,
        and the error to answer if it may not come in."""
        presented = presented_key(request.headers)
        key = self.store.key_for(presented) if presented else None
        if key is None and self.config.keys_required:
            return (
                None,
                "",
                api_error(
                    401,
                    "authentication_error",
                    "llmos gateway: this gateway needs a gateway key (as the API key); ask its "
                    "owner for one (`llmos gateway keys add NAME`)",
                ),
            )
        return key, "" if key else client_identity(presented), None

    def stop_spending(self, conversation: Conversation) -> str | None:
        """Why this conversation may not spend more (None: it may)."""
        if conversation.key is not None:
            key = self.store.key_by_id(conversation.key.id)
            if key is None:
                return f"gateway key {conversation.key.name} was removed"
            spent = key.spent_usd + self.conversations.unwritten_usd(key.id)
            if key.budget_usd is not None and spent >= key.budget_usd:
                return (
                    f"gateway key {key.name} has spent its budget (${spent:.4f} of "
                    f"${key.budget_usd:.4f}); raise it with `llmos gateway keys budget "
                    f"{key.name} USD`"
                )
        cap = self.config.conversation_budget_usd
        spent = conversation.spent_usd
        if cap is not None and spent >= cap:
            return f"this conversation has spent its budget (${spent:.4f} of ${cap:.4f})"
        try:
            available = self.economy.authorize(None, project=self.config.project)
        except LowBatteryError as exc:
            return exc.message + (f"; {exc.hint}" if exc.hint else "")
        left = available - self.conversations.unpaid_usd()
        if left < MIN_RUN_BUDGET_USD:
            return (
                f"low battery: ${max(left, 0):.4f} left once the open conversations are paid, "
                "too little for a model call; top it up with `llmos budget add USD`"
            )
        return None

    def _refuse(self, conversation: Conversation, why: str) -> Response:
        message = f"llmos gateway: {why}"
        conversation.ctx.bus.publish(
            RequestRefused(
                run_id=conversation.run_id, status=402, error_type="billing_error", message=message
            )
        )
        conversation.status, conversation.error = "budget_exhausted", why
        self.conversations.report("refused", {"conversation": conversation.id, "why": why})
        return api_error(402, "billing_error", message)

    # /v1/messages --------------------------------------------------------------------------
    async def messages(self, request: Request) -> Response:
        raw = await request.body()
        body = _json_object(raw)
        if body is None:
            return api_error(400, "invalid_request_error", "the body must be a JSON object")
        key, who, refusal = self._client(request)
        if refusal is not None:
            return refusal
        conversation = self.conversations.route(body, request.headers, key, who)
        if self.questions is not None:
            self.questions.conversation_of[conversation.run_id] = conversation.id
        conversation.begin(body)
        with conversation.busy():
            why = self.stop_spending(conversation)
            if why is not None:
                return self._refuse(conversation, why)
            outgoing, data = self._outgoing(body, raw)
            exchange = Exchange(
                conversation=conversation,
                upstream=self.upstream,
                config=self.config,
                body=outgoing,
                headers=self._headers(request, key),
                path=request.url.path,
                query=request.url.query,
                stop_spending=self.stop_spending,
            )
            started = exchange.sent_at = time.monotonic()
            try:
                first = await self.upstream.send(
                    "POST", exchange.path, exchange.query, exchange.headers, data
                )
            except UpstreamError as exc:
                message = (
                    f"llmos gateway: cannot reach the upstream {self.upstream.base_url}: {exc}"
                )
                _failed(conversation, 502, message, bool(body.get("stream")), started)
                return api_error(502, "api_error", message)
            headers = response_headers(first.headers)
            if first.status_code != 200:
                reply = await first.aread()
                await first.aclose()
                error = upstream_error(first.status_code, reply)["error"]
                text = f"{error.get('type')}: {error.get('message')}"
                _failed(conversation, first.status_code, text, bool(body.get("stream")), started)
                return Response(reply, status_code=first.status_code, headers=headers)
            if body.get("stream"):
                return StreamingResponse(stream_turns(exchange, first), headers=headers)
            status, payload = await complete_turns(exchange, first)
            headers.pop("content-type", None)
            return JSONResponse(payload, status_code=status, headers=headers)

    def _outgoing(self, body: dict[str, Any], raw: bytes) -> tuple[dict[str, Any], bytes]:
        """The request as it goes upstream: as the client sent it (the very bytes), or
        with the workspace's rules added to its system prompt."""
        if self.rules is None:
            return body, raw
        outgoing = {**body, "system": with_rules(body.get("system"), self.rules)}
        return outgoing, json.dumps(outgoing).encode()

    def _headers(self, request: Request, key: GatewayKey | None) -> list[tuple[str, str]]:
        return request_headers(
            request.headers.items(),
            upstream_key=self.upstream_key,
            replace_credentials=key is not None,
        )

    # Other API routes ----------------------------------------------------------------------
    async def passthrough(self, request: Request) -> Response:
        """count_tokens and any other API route: keys as for messages, nothing governed."""
        key, _, refusal = self._client(request)
        if refusal is not None:
            return refusal
        raw = await request.body()
        if request.url.path.endswith("/count_tokens"):
            body = _json_object(raw)
            if body is not None and self.rules is not None:
                raw = self._outgoing(body, raw)[1]
        try:
            response = await self.upstream.send(
                request.method,
                request.url.path,
                request.url.query,
                self._headers(request, key),
                raw,
            )
        except UpstreamError as exc:
            message = f"llmos gateway: cannot reach the upstream {self.upstream.base_url}: {exc}"
            return api_error(502, "api_error", message)
        try:
            data = await response.aread()
        finally:
            await response.aclose()
        headers = response_headers(response.headers)
        return Response(data, status_code=response.status_code, headers=headers)

    # llmos's own routes --------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "open_conversations": len(self.conversations.open)})

    def _admin(self, request: Request) -> Response | None:
        token = request.headers.get(ADMIN_HEADER, "")
        if not secrets.compare_digest(token.encode(), self.admin_token.encode()):
            return api_error(401, "authentication_error", f"llmos gateway: {ADMIN_HEADER} needed")
        if self.questions is None:
            return api_error(
                404,
                "not_found_error",
                "llmos gateway: questions are not answered over HTTP here (start the gateway "
                "with --approver http)",
            )
        return None

    async def approvals(self, request: Request) -> Response:
        refusal = self._admin(request)
        if refusal is not None or self.questions is None:
            return refusal or Response(status_code=404)
        return JSONResponse({"approvals": [p.to_dict() for p in self.questions.pending()]})

    async def answer(self, request: Request) -> Response:
        refusal = self._admin(request)
        if refusal is not None or self.questions is None:
            return refusal or Response(status_code=404)
        body = _json_object(await request.body()) or {}
        try:
            self.questions.answer(
                request.path_params["question"],
                str(body.get("decision", "")),
                new_input=body.get("input"),
                reason=str(body.get("reason") or ""),
            )
        except KeyError:
            return api_error(404, "not_found_error", "llmos gateway: no such question waits")
        except ValueError as exc:
            return api_error(400, "invalid_request_error", f"llmos gateway: {exc}")
        return JSONResponse({"ok": True})


def with_rules(system: Any, rules: str) -> Any:
    """`system` with the rules paragraph added at its end (a string stays a string)."""
    if isinstance(system, list):
        return [*system, {"type": "text", "text": rules}]
    if isinstance(system, str) and system:
        return f"{system}\n\n{rules}"
    return rules


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _failed(
    conversation: Conversation, status: int, error: str, stream: bool, started: float
) -> None:
    conversation.model_called(
        message_id="",
        model="",
        usage={},
        stream=stream,
        attempt=0,
        status=status,
        stop_reason=None,
        started=started,
        error=error,
    )
