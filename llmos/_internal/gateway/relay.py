"""One client request to `/v1/messages`, governed: every tool call the model returns is
decided before the client sees it; a rejected turn goes back to the model (think again).

**Streaming.** The upstream's events are relayed as they come, except tool calls:

- `message_start` and `ping` pass at once; text (and thinking) blocks pass at once, delta by
  delta, as the very bytes received while their numbering is unchanged;
- from the first `tool_use` block's `content_block_start`, the rest of the message is
  *held*. Each tool call is decided as soon as its `content_block_stop` completes its input
  (a question to a human starts then, while the rest streams in);
- at `message_stop`, once every call is decided (the client gets a `ping` every few seconds
  meanwhile, so it does not time out while a human thinks): if all are allowed, the held
  blocks are released in order, a call a human changed with its new input (its input deltas
  replaced by one), then `message_delta` and `message_stop`;
- if any is rejected, the client sees none of that turn's held blocks. The turn goes back to
  the model (llmos/_internal/gateway/think_again.py) and the new answer's events continue the *same*
  client message: its `message_start` is dropped (the client has one, and keeps its message
  id), its blocks are numbered on from the last block the client received, so indexes stay
  0, 1, 2... in the order the client saw them. Text already sent stays. The final
  `message_delta` carries the last answer's stop reason and the usage of every attempt.
- after `think_again_limit` rejected turns (or a budget spent), the turn ends with a text
  block saying why and `stop_reason: end_turn`.

**Non-streaming**: the same decisions on the whole message; the client receives the last
answer (its id, its content), with the usage of every attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmos._internal.gateway import sse
from llmos._internal.gateway.events import ThinkAgain
from llmos._internal.gateway.message import (
    TOOL_BLOCKS,
    StreamedMessage,
    ToolCall,
    add_usage,
    tool_calls_of,
    usage_of,
)
from llmos._internal.gateway.think_again import NO_BUDGET, Rejection, gave_up_text, sent_back
from llmos._internal.gateway.upstream import Upstream, UpstreamError

if TYPE_CHECKING:
    import httpx2

    from llmos._internal.gateway.config import GatewayConfig
    from llmos._internal.gateway.conversations import Conversation
    from llmos._internal.security.guard import Review

log = logging.getLogger(__name__)

PING = sse.encode("ping", {"type": "ping"})


@dataclass
class Exchange:
    """One client request on its way: where it goes, and as what."""

    conversation: Conversation
    upstream: Upstream
    config: GatewayConfig
    body: dict[str, Any]  # as sent upstream (the system addition included)
    headers: list[tuple[str, str]]  # the upstream's headers
    path: str
    query: str
    stop_spending: Callable[[Conversation], str | None]  # why no more may be spent, if so
    sent_at: float = 0.0  # when the first request went upstream (time.monotonic)
    tasks: set[asyncio.Task[Review]] = field(default_factory=set)

    async def send(self, body: dict[str, Any]) -> httpx2.Response:
        return await self.upstream.send(
            "POST", self.path, self.query, self.headers, json.dumps(body).encode()
        )

    async def decide(self, call: ToolCall) -> asyncio.Task[Review]:
        task = asyncio.create_task(self.conversation.decide(call))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def abandon(self) -> None:
        """The client went away: questions still open are withdrawn."""
        for task in list(self.tasks):
            task.cancel()


def error_payload(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def upstream_error(status: int, data: bytes) -> dict[str, Any]:
    """The upstream's error as the API shapes errors (its own JSON when it sent one)."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload
    text = data.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    return error_payload("api_error", f"the upstream answered {status}: {text}")


# Streaming -------------------------------------------------------------------------------------
@dataclass
class _Client:
    """What the client has received of the message so far."""

    next_index: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # every attempt's, summed

    def number(self) -> int:
        self.next_index += 1
        return self.next_index - 1


async def stream_turns(ex: Exchange, first: httpx2.Response) -> AsyncIterator[bytes]:
    """The client's event stream for a request whose upstream answered `first` (200)."""
    conversation, config = ex.conversation, ex.config
    client = _Client()
    response: httpx2.Response | None = first
    body = ex.body
    attempt = 0
    started = ex.sent_at
    conversation.working()
    try:
        while response is not None:
            message = StreamedMessage()
            passed: dict[int, int] = {}  # upstream index -> client index, blocks passed at once
            held: list[sse.SseEvent] = []
            decisions: dict[int, asyncio.Task[Review]] = {}
            end: sse.SseEvent | None = None
            delta: sse.SseEvent | None = None
            failure: bytes | None = None
            async for event in sse.parse(response.aiter_bytes()):
                message.feed(event)
                kind, index = event.type, event.index
                if kind == "message_start":
                    if attempt == 0:
                        yield event.raw
                elif kind == "ping":
                    yield event.raw
                elif kind == "content_block_start" and index is not None:
                    block_type = (event.data.get("content_block") or {}).get("type")
                    if held or block_type in TOOL_BLOCKS:
                        held.append(event)
                    else:
                        passed[index] = client.number()
                        yield sse.reindexed(event, passed[index])
                elif index is not None and index in passed:
                    yield sse.reindexed(event, passed[index])
                elif kind in ("content_block_delta", "content_block_stop"):
                    held.append(event)
                    ended = kind == "content_block_stop" and index is not None
                    call = message.tool_call(index) if ended and index is not None else None
                    if call is not None and index is not None:
                        decisions[index] = await ex.decide(call)
                elif kind == "message_delta":
                    delta = event
                elif kind == "message_stop":
                    end = event
                    break
                elif kind == "error":
                    failure = event.raw
                    break
                elif held:
                    held.append(event)
                else:
                    yield event.raw
            await response.aclose()
            response = None
            client.usage = add_usage(client.usage, message.usage)
            conversation.model_called(
                message_id=message.id,
                model=message.model,
                usage=message.usage,
                stream=True,
                attempt=attempt,
                status=200,
                stop_reason=message.stop_reason,
                started=started,
                error=None if failure is None and end is not None else "the stream broke off",
            )
            if failure is not None or end is None or delta is None:
                yield failure or sse.encode(
                    "error", error_payload("api_error", "the upstream's stream ended early")
                )
                return
            pending = set(decisions.values())
            while pending:  # a human may be deciding: keep the client's connection alive
                _, pending = await asyncio.wait(pending, timeout=config.ping_secs)
                if pending:
                    yield PING
            reviews = {index: task.result() for index, task in decisions.items()}
            calls = {index: message.tool_call(index) for index in decisions}
            rejected = [
                Rejection(call.id, call.name, reviews[i].decision.rule, reviews[i].decision.reason)
                for i, call in calls.items()
                if call is not None and not reviews[i].allowed
            ]
            if not rejected:
                for index, call in calls.items():
                    if call is not None:
                        conversation.release(call, reviews[index])
                conversation.answered(message.content)
                for chunk in _released(held, reviews, client):
                    yield chunk
                yield _final_delta(delta, client, attempt)
                yield end.raw
                return
            stop = ex.stop_spending(conversation)
            if attempt >= config.think_again_limit or stop is not None:
                text = NO_BUDGET.format(why=stop) if stop else gave_up_text(rejected, attempt + 1)
                for chunk in _text_block(client.number(), text):
                    yield chunk
                yield _final_delta(delta, client, attempt, stop_reason="end_turn")
                yield end.raw
                return
            attempt += 1
            _sent_back(conversation, attempt, rejected)
            body = sent_back(body, message.content, rejected)
            started = time.monotonic()
            try:
                again = await ex.send(body)
            except UpstreamError as exc:
                yield sse.encode("error", error_payload("api_error", _unreachable(ex, exc)))
                return
            if again.status_code != 200:
                data = await again.aread()
                await again.aclose()
                _failed_call(conversation, attempt, again.status_code, data, stream=True)
                yield sse.encode("error", upstream_error(again.status_code, data))
                return
            response = again
    finally:
        # Cancelled (the client went away) or done: nothing here may wait.
        ex.abandon()
        if response is not None:
            asyncio.get_running_loop().create_task(response.aclose())
        conversation.done_working()


def _released(held: list[sse.SseEvent], reviews: dict[int, Review], client: _Client) -> list[bytes]:
    """The held events as the client receives them: numbered on, changed inputs replaced."""
    out: list[bytes] = []
    numbers: dict[int, int] = {}
    for event in held:
        index = event.index
        if index is None:
            out.append(event.raw)
            continue
        review = reviews.get(index)
        changed = review is not None and review.changed
        if event.type == "content_block_start":
            numbers[index] = client.number()
            if review is not None and changed:
                block = {**(event.data.get("content_block") or {}), "input": {}}
                start = {"type": "content_block_start", "index": numbers[index]}
                out.append(sse.encode("content_block_start", {**start, "content_block": block}))
                partial = json.dumps(review.tool_input, ensure_ascii=False)
                delta = {"type": "input_json_delta", "partial_json": partial}
                out.append(_delta(numbers[index], delta))
                continue
        elif event.type == "content_block_delta" and changed:
            continue  # replaced by the changed input above
        out.append(sse.reindexed(event, numbers.get(index, index)))
    return out


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return sse.encode("content_block_delta", payload)


def _text_block(index: int, text: str) -> list[bytes]:
    start = {"type": "content_block_start", "index": index}
    return [
        sse.encode("content_block_start", {**start, "content_block": {"type": "text", "text": ""}}),
        _delta(index, {"type": "text_delta", "text": text}),
        sse.encode("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def _final_delta(
    delta: sse.SseEvent, client: _Client, attempt: int, *, stop_reason: str | None = None
) -> bytes:
    """The last answer's `message_delta`; after a rejected turn, with every attempt's usage
    (the client is billed for them too) and, if the turn was ended, its stop reason."""
    if attempt == 0 and stop_reason is None:
        return delta.raw
    data = dict(delta.data)
    if stop_reason is not None:
        data["delta"] = {**(data.get("delta") or {}), "stop_reason": stop_reason}
    data["usage"] = {**(data.get("usage") or {}), **client.usage}
    return sse.encode(delta.name, data)


# Non-streaming ---------------------------------------------------------------------------------
async def complete_turns(ex: Exchange, first: httpx2.Response) -> tuple[int, dict[str, Any]]:
    """The client's response (status, JSON) for a request whose upstream answered `first`."""
    conversation, config = ex.conversation, ex.config
    response = first
    body = ex.body
    attempt = 0
    usage: dict[str, int] = {}
    started = ex.sent_at
    try:
        while True:
            data = await response.aread()
            await response.aclose()
            try:
                message = json.loads(data)
            except ValueError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("content"), list):
                _failed_call(conversation, attempt, response.status_code, data, stream=False)
                return 502, error_payload("api_error", "the upstream's answer is not a message")
            usage = add_usage(usage, usage_of(message))
            conversation.model_called(
                message_id=str(message.get("id") or ""),
                model=str(message.get("model") or ""),
                usage=usage_of(message),
                stream=False,
                attempt=attempt,
                status=response.status_code,
                stop_reason=message.get("stop_reason"),
                started=started,
            )
            calls = tool_calls_of(message["content"])
            reviews = [await (await ex.decide(call)) for call in calls]
            rejected = [
                Rejection(call.id, call.name, review.decision.rule, review.decision.reason)
                for call, review in zip(calls, reviews, strict=True)
                if not review.allowed
            ]
            if attempt:
                message["usage"] = {**(message.get("usage") or {}), **usage}
            if not rejected:
                conversation.answered(message["content"])
                for call, review in zip(calls, reviews, strict=True):
                    conversation.release(call, review)
                    if review.changed:
                        message["content"][call.index] = {
                            **message["content"][call.index],
                            "input": review.tool_input,
                        }
                return 200, message
            stop = ex.stop_spending(conversation)
            if attempt >= config.think_again_limit or stop is not None:
                text = NO_BUDGET.format(why=stop) if stop else gave_up_text(rejected, attempt + 1)
                kept = [b for b in message["content"] if b.get("type") not in TOOL_BLOCKS]
                message["content"] = [*kept, {"type": "text", "text": text}]
                message["stop_reason"] = "end_turn"
                return 200, message
            attempt += 1
            _sent_back(conversation, attempt, rejected)
            body = sent_back(body, message["content"], rejected)
            started = time.monotonic()
            try:
                response = await ex.send(body)
            except UpstreamError as exc:
                return 502, error_payload("api_error", _unreachable(ex, exc))
            if response.status_code != 200:
                data = await response.aread()
                await response.aclose()
                _failed_call(conversation, attempt, response.status_code, data, stream=False)
                return response.status_code, upstream_error(response.status_code, data)
    finally:
        ex.abandon()


# Shared ----------------------------------------------------------------------------------------
def _sent_back(conversation: Conversation, attempt: int, rejected: list[Rejection]) -> None:
    rows = [r.to_dict() for r in rejected]
    conversation.ctx.bus.publish(
        ThinkAgain(run_id=conversation.run_id, attempt=attempt, rejected=rows)
    )
    conversation.owner.report(
        "think_again", {"conversation": conversation.id, "attempt": attempt, "rejected": rows}
    )


def _failed_call(
    conversation: Conversation, attempt: int, status: int, data: bytes, *, stream: bool
) -> None:
    error = upstream_error(status, data)["error"]
    conversation.model_called(
        message_id="",
        model="",
        usage={},
        stream=stream,
        attempt=attempt,
        status=status,
        stop_reason=None,
        started=time.monotonic(),
        error=f"{error.get('type')}: {error.get('message')}",
    )


def _unreachable(ex: Exchange, exc: Exception) -> str:
    return f"llmos gateway: cannot reach the upstream {ex.upstream.base_url}: {exc}"
