"""Server-sent events of the Messages API: parsing the upstream's stream, writing the client's.

The API sends `event: NAME` / `data: JSON` pairs separated by a blank line. The gateway reads
them one by one (it must see each content block to hold a tool call), and passes most on as
the very bytes it read: re-encoding happens only for an event it changes (a new index, a
replaced input, summed usage).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass
class SseEvent:
    """One server-sent event of the upstream's stream, parsed, with the bytes it came as."""

    name: str  # the `event:` field ("message_start", "content_block_delta", ...)
    data: dict[str, Any]
    raw: bytes  # exactly as received, blank line included

    @property
    def type(self) -> str:
        return str(self.data.get("type") or self.name)

    @property
    def index(self) -> int | None:
        value = self.data.get("index")
        return value if isinstance(value, int) else None


def encode(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def reindexed(event: SseEvent, index: int) -> bytes:
    """The event's bytes with its content block `index` changed (the bytes as received when
    it is already that)."""
    if event.index == index:
        return event.raw
    return encode(event.name, {**event.data, "index": index})


async def parse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    """The events of an SSE byte stream (comments and events without JSON data skipped)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            block, buffer = buffer[: end + 2], buffer[end + 2 :]
            event = _event(block)
            if event is not None:
                yield event
    if buffer.strip():
        event = _event(buffer + b"\n\n")
        if event is not None:
            yield event


def _event(block: bytes) -> SseEvent | None:
    name = ""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            data.append(line[5:].strip())
    if not data:
        return None
    try:
        payload = json.loads(b"\n".join(data))
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    return SseEvent(name or str(payload.get("type", "")), payload, block)
