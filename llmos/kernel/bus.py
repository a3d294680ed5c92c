"""The kernel's event bus: publish/subscribe that a subscriber can never stall.

Each subscriber gets its own bounded mailbox and its own worker:

- an `async def` handler runs in its own task on the event loop (it must not block the loop);
- a plain function runs in its own daemon thread, so a handler stuck on a blocking write
  (a terminal nobody reads, a slow disk) holds up only itself, never the run.

`publish` never waits. Overflow rule: when a subscriber's mailbox is full, its oldest
pending event is dropped and counted in `Subscription.dropped`, so a slow subscriber loses
history instead of slowing the run. A handler that raises is logged and counted in
`Subscription.failures` and keeps receiving later events. `close()` lets each subscriber
drain for up to `timeout` seconds, then calls its `on_close` (the session log seals itself
there); a subscriber still busy after that is abandoned (a task is cancelled; a thread, being
a daemon, is left to finish or die with the process) and `close()` returns anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from llmos.kernel.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None] | None]
DEFAULT_QUEUE_SIZE = 1000


class Subscription:
    """One subscriber: its bounded mailbox, its worker and what happened to its events."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        maxsize: int,
        on_close: Callable[[Subscription], None] | None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.maxsize = maxsize
        self.on_close = on_close
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        self._pending: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._wake_task: asyncio.Event | None = None  # set for async handlers

    def offer(self, event: Event) -> None:
        with self._cond:
            if len(self._pending) >= self.maxsize:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(event)
            self._cond.notify()
        if self._wake_task is not None:
            self._wake_task.set()

    def close_mailbox(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._wake_task is not None:
            self._wake_task.set()

    def _next_nowait(self) -> tuple[bool, Event | None]:
        """(True, event) for a pending event, (True, None) once closed and drained."""
        with self._cond:
            if self._pending:
                return True, self._pending.popleft()
            return self._closing, None

    def _next_blocking(self) -> Event | None:
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            return self._pending.popleft() if self._pending else None

    def _finished(self) -> None:
        if self.on_close is None:
            return
        try:
            self.on_close(self)
        except Exception:
            log.exception("event subscriber %s failed while closing", self.name)

    def _failed(self, event: Event) -> None:
        self.failures += 1
        log.exception("event subscriber %s failed on %s", self.name, event.kind)

    # Workers ---------------------------------------------------------------------------------
    async def run_async(self) -> None:
        assert self._wake_task is not None
        while True:
            got, event = self._next_nowait()
            if not got:
                self._wake_task.clear()
                await self._wake_task.wait()
                continue
            if event is None:
                self._finished()
                return
            try:
                result = self.handler(event)
                if inspect.isawaitable(result):
                    await result
                self.delivered += 1
            except Exception:
                self._failed(event)

    def run_sync(self, done: Callable[[], None]) -> None:
        try:
            while (event := self._next_blocking()) is not None:
                try:
                    result: Any = self.handler(event)
                    if inspect.isawaitable(result):
                        if inspect.iscoroutine(result):
                            result.close()
                        raise TypeError("a plain-function handler returned an awaitable")
                    self.delivered += 1
                except Exception:
                    self._failed(event)
            self._finished()
        finally:
            done()


def _is_async(handler: Handler) -> bool:
    # A function, or an object whose __call__ is a coroutine function.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )


class EventBus:
    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subs: list[Subscription] = []
        self._workers: list[tuple[Subscription, asyncio.Future[None]]] = []
        self._closed = False

    def subscribe(
        self,
        handler: Handler,
        *,
        name: str,
        queue_size: int | None = None,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> Subscription:
        """Register `handler`; call from inside the running event loop.

        `on_close(subscription)` runs in the subscriber's worker once its mailbox has
        drained at `close()`, after its last event.
        """
        loop = asyncio.get_running_loop()
        sub = Subscription(name, handler, queue_size or self._queue_size, on_close)
        done: asyncio.Future[None]
        if _is_async(handler):
            sub._wake_task = asyncio.Event()
            done = loop.create_task(sub.run_async(), name=f"bus:{name}")
        else:
            done = loop.create_future()

            def finished() -> None:
                with contextlib.suppress(RuntimeError):  # the loop may be gone by then
                    loop.call_soon_threadsafe(_resolve, done)

            threading.Thread(
                target=sub.run_sync, args=(finished,), name=f"bus:{name}", daemon=True
            ).start()
        self._subs.append(sub)
        self._workers.append((sub, done))
        return sub

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber without waiting. Call from the loop's thread."""
        if self._closed:
            return
        for sub in self._subs:
            sub.offer(event)

    async def close(self, *, timeout: float = 2.0) -> None:
        """Deliver what is queued (all subscribers get up to `timeout` s together), then stop."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subs:
            sub.close_mailbox()
        pending_workers = {done for _, done in self._workers if not done.done()}
        if pending_workers:
            _, still = await asyncio.wait(pending_workers, timeout=timeout)
        else:
            still = set()
        for sub, done in self._workers:
            if done in still:
                log.warning("event subscriber %s did not finish in time; abandoned", sub.name)
                if isinstance(done, asyncio.Task):
                    done.cancel()


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
