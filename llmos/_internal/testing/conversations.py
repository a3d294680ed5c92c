"""Route scripted answers by what a request is, not by when it arrives.

Several agents talking to one `ScriptedModelServer` at once (an orchestration's parallel
subtasks) make a FIFO script meaningless: which CLI asks first is a race. A
`Conversations` router is a request-dependent fallback instead: each route matches a
conversation by how its first user message starts and/or by text in its system prompt,
and answers its n-th model call (n = assistant messages already in the request) with the
n-th turn.

    router = Conversations()
    router.on("Write a.txt", use_tool("Write", file_path="a.txt", content="a"), say("a done"))
    router.on(system="You are the planner", turns=[plan_turn])
    server.respond(router)
    ...
    router.assert_complete()  # every turn of every route was served
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from llmos._internal.testing.scripted_model import Answer, RecordedRequest, Step

__all__ = ["Conversations", "first_user_text"]


def first_user_text(request: RecordedRequest) -> str:
    """The text of the conversation's first user message, without the CLI's reminders."""
    for message in request.messages:
        if message.get("role") != "user":
            continue
        content = message.get("content", "")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        return "\n".join(t for t in texts if not t.lstrip().startswith("<system-reminder>"))
    return ""


def turn_number(request: RecordedRequest) -> int:
    """How many model answers the conversation already holds (0 for its first call)."""
    return sum(1 for m in request.messages if m.get("role") == "assistant")


@dataclass
class _Route:
    """One scripted conversation: which requests it answers, and its turns in order."""

    prompt: str | None
    system: str | None
    turns: Sequence[Step]
    name: str
    served: set[int] = field(default_factory=set)
    calls: list[RecordedRequest] = field(default_factory=list)

    def matches(self, request: RecordedRequest) -> bool:
        if self.prompt is not None and not first_user_text(request).lstrip().startswith(
            self.prompt
        ):
            return False
        return self.system is None or self.system in request.system_text


class Conversations:
    """A request-dependent step for `ScriptedModelServer.respond`/`script` (thread-safe)."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()

    def on(
        self,
        prompt: str | None = None,
        *turns: Step,
        system: str | None = None,
        name: str | None = None,
    ) -> Conversations:
        """Answer conversations whose first user text starts with `prompt` (and whose system
        prompt contains `system`) with `turns`, one per model call. First match wins."""
        if prompt is None and system is None:
            raise ValueError("a route needs a prompt or a system text to match")
        label = name or (prompt or system or "")[:60]
        self._routes.append(_Route(prompt, system, turns, label))
        return self

    def __call__(self, request: RecordedRequest) -> Answer:
        number = turn_number(request)
        with self._lock:
            route = next((r for r in self._routes if r.matches(request)), None)
            if route is None:
                raise LookupError(f"no route for {first_user_text(request)[:120]!r}")
            if number >= len(route.turns):
                raise LookupError(f"route {route.name!r} has no turn {number + 1}")
            route.served.add(number)
            route.calls.append(request)
            step = route.turns[number]
        return step(request) if callable(step) else step

    def calls(self, name: str) -> list[RecordedRequest]:
        """The requests a route answered (by its name, or its prompt/system text)."""
        with self._lock:
            return [c for r in self._routes if r.name == name for c in r.calls]

    def unused(self) -> list[str]:
        with self._lock:
            return [
                f"{r.name}: turn {n + 1}"
                for r in self._routes
                for n in range(len(r.turns))
                if n not in r.served
            ]

    def assert_complete(self) -> None:
        unused = self.unused()
        if unused:
            raise AssertionError("Conversations: turns never served:\n  " + "\n  ".join(unused))
