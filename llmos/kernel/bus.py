"""The kernel's event bus: async publish/subscribe that a subscriber can never stall.

Each subscriber gets its own bounded queue and its own worker task. `publish` never
waits: when a subscriber's queue is full, its oldest pending event is dropped (and
counted), so a slow subscriber loses history instead of slowing the run. A subscriber
that raises is logged and counted and keeps receiving later events.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from llmos.kernel.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None] | None]


@dataclass
class Subscription:
    name: str
    handler: Handler
    queue: asyncio.Queue[Event | None]
    dropped: int = 0
    failures: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class EventBus:
    def __init__(self, *, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subs: list[Subscription] = []
        self._closed = False

    def subscribe(
        self, handler: Handler, *, name: str, queue_size: int | None = None
    ) -> Subscription:
        """Register `handler` (sync or async). Call from inside the running event loop."""
        sub = Subscription(name, handler, asyncio.Queue(maxsize=queue_size or self._queue_size))
        sub.task = asyncio.get_running_loop().create_task(self._pump(sub), name=f"bus:{name}")
        self._subs.append(sub)
        return sub

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    def publish(self, event: Event) -> None:
        if self._closed:
            return
        for sub in self._subs:
            if sub.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
                    sub.queue.task_done()
                    sub.dropped += 1
            sub.queue.put_nowait(event)

    async def close(self, *, timeout: float = 2.0) -> None:
        """Deliver what is queued (each subscriber gets up to `timeout` s), then stop."""
        self._closed = True
        for sub in self._subs:
            if sub.queue.full():  # same overflow rule as publish: the oldest event goes
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
                    sub.queue.task_done()
                    sub.dropped += 1
            sub.queue.put_nowait(None)
        tasks = [sub.task for sub in self._subs if sub.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for sub in self._subs:
            if sub.task in pending:
                log.warning("event subscriber %s did not finish in time; cancelled", sub.name)

    async def _pump(self, sub: Subscription) -> None:
        while True:
            event = await sub.queue.get()
            if event is None:
                return
            try:
                result = sub.handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                sub.failures += 1
                log.exception("event subscriber %s failed on %s", sub.name, event.kind)
            finally:
                sub.queue.task_done()
