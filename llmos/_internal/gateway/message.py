"""One assistant message of the Messages API, as the gateway sees it: rebuilt from a stream's
events, or taken from a non-streamed response; its tool calls; its usage.

The rebuilt content is what goes back to the model when a turn is sent back (think again):
text, thinking (with its signature), tool calls with their parsed input, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.gateway.sse import SseEvent

TOOL_BLOCKS = frozenset({"tool_use"})
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@frozen
class ToolCall:
    """A tool call the model made in an assistant message."""

    id: str
    name: str
    input: dict[str, Any]
    index: int  # the block's position in its message (upstream's numbering)
    reasoning: str = ""  # the text the model wrote before it in the same message


@dataclass
class StreamedMessage:
    """A message rebuilt from the events of its stream."""

    id: str = ""
    model: str = ""
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    _partial_json: dict[int, list[str]] = field(default_factory=dict)

    def feed(self, event: SseEvent) -> None:
        data, kind = event.data, event.type
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = str(message.get("id") or "")
            self.model = str(message.get("model") or "")
            self._add_usage(message.get("usage"))
        elif kind == "content_block_start" and event.index is not None:
            block = dict(data.get("content_block") or {})
            self.blocks[event.index] = block
            if block.get("type") in TOOL_BLOCKS:
                self._partial_json[event.index] = []
        elif kind == "content_block_delta" and event.index is not None:
            self._delta(event.index, data.get("delta") or {})
        elif kind == "content_block_stop" and event.index is not None:
            self._finish(event.index)
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self._add_usage(data.get("usage"))

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "input_json_delta":
            self._partial_json.setdefault(index, []).append(str(delta.get("partial_json", "")))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + str(delta.get("signature", ""))
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))

    def _finish(self, index: int) -> None:
        parts = self._partial_json.pop(index, None)
        if parts is None:
            return
        text = "".join(parts)
        try:
            value = json.loads(text) if text.strip() else {}
        except ValueError:
            value = None
        block = self.blocks[index]
        if isinstance(value, dict):
            block["input"] = value
        else:  # the client could not use it either; the policy judges an empty input
            block["input"] = {}
            block["llmos_unparsed_input"] = text

    def _add_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key in USAGE_KEYS:
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                # message_delta repeats or grows the counts of message_start: keep the largest
                self.usage[key] = max(self.usage.get(key, 0), value)

    @property
    def content(self) -> list[dict[str, Any]]:
        return [_clean_block(self.blocks[i]) for i in sorted(self.blocks)]

    def tool_call(self, index: int) -> ToolCall | None:
        """The tool call of block `index` (once its input is complete), with the text the
        model wrote before it."""
        block = self.blocks.get(index)
        if block is None or block.get("type") not in TOOL_BLOCKS or index in self._partial_json:
            return None
        said = [
            str(self.blocks[i].get("text", "")).strip()
            for i in sorted(self.blocks)
            if i < index and self.blocks[i].get("type") == "text"
        ]
        tool_input = block.get("input")
        return ToolCall(
            id=str(block.get("id", "")),
            name=str(block.get("name", "")),
            input=tool_input if isinstance(tool_input, dict) else {},
            index=index,
            reasoning="\n".join(t for t in said if t),
        )


def tool_calls_of(content: list[dict[str, Any]]) -> list[ToolCall]:
    """The tool calls of a message's content, each with the text written before it."""
    calls: list[ToolCall] = []
    said: list[str] = []
    for index, block in enumerate(content):
        kind = block.get("type")
        if kind == "text" and str(block.get("text", "")).strip():
            said.append(str(block["text"]).strip())
        elif kind in TOOL_BLOCKS:
            tool_input = block.get("input")
            calls.append(
                ToolCall(
                    id=str(block.get("id", "")),
                    name=str(block.get("name", "")),
                    input=tool_input if isinstance(tool_input, dict) else {},
                    index=index,
                    reasoning="\n".join(said),
                )
            )
    return calls


def usage_of(message: dict[str, Any]) -> dict[str, int]:
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return {}
    return {
        key: int(usage[key])
        for key in USAGE_KEYS
        if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool)
    }


def add_usage(total: dict[str, int], usage: dict[str, int]) -> dict[str, int]:
    return {key: total.get(key, 0) + usage.get(key, 0) for key in {*total, *usage}}


def _clean_block(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if not k.startswith("llmos_")}
