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

A bus whose subscribers are all plain functions needs no event loop: a Follower replay in
`llmos run` publishes and closes it (`close_blocking`) without ever importing asyncio.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from llmos._internal.kernel.events import Event

if TYPE_CHECKING:
    import asyncio

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
        self.finished = threading.Event()  # set once the worker is done (on_close included)

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
        try:
            if self.on_close is not None:
                self.on_close(self)
        except Exception:
            log.exception("event subscriber %s failed while closing", self.name)
        finally:
            self.finished.set()

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

    def run_sync(self) -> None:
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


def is_async_handler(handler: Handler) -> bool:
    # A function, or an object whose __call__ is a coroutine function.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )


class EventBus:
    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subs: list[Subscription] = []
        self._tasks: dict[Subscription, asyncio.Task[None]] = {}  # the async subscribers
        self._closed = False

    def subscribe(
        self,
        handler: Handler,
        *,
        name: str,
        queue_size: int | None = None,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> Subscription:
        """Register `handler`. An `async def` handler runs on the running event loop (so
        subscribe it from inside the loop); a plain function, in a thread of its own.

        `on_close(subscription)` runs in the subscriber's worker once its mailbox has
        drained at `close()`, after its last event.
        """
        sub = Subscription(name, handler, queue_size or self._queue_size, on_close)
        if is_async_handler(handler):
            import asyncio  # only async subscribers need the loop (see the module)

            loop = asyncio.get_running_loop()
            sub._wake_task = asyncio.Event()
            self._tasks[sub] = loop.create_task(sub.run_async(), name=f"bus:{name}")
        else:
            threading.Thread(target=sub.run_sync, name=f"bus:{name}", daemon=True).start()
        self._subs.append(sub)
        return sub

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    @property
    def needs_loop(self) -> bool:
        """Whether an async subscriber runs on the event loop (then close with `close()`)."""
        return bool(self._tasks)

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber without waiting. Call from the loop's thread, if
        the bus has async subscribers."""
        if self._closed:
            return
        for sub in self._subs:
            sub.offer(event)

    async def close(self, *, timeout: float = 2.0) -> None:
        """Deliver what is queued (all subscribers get up to `timeout` s together), then stop.
        Call from inside the event loop; it is not blocked meanwhile."""
        import asyncio

        if not self._start_closing():
            return
        deadline = time.monotonic() + timeout
        tasks = [task for task in self._tasks.values() if not task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if any(not sub.finished.is_set() for sub in self._subs):
            await asyncio.to_thread(_wait_for, self._subs, deadline)
        self._abandon_unfinished()

    def close_blocking(self, *, timeout: float = 2.0) -> None:
        """`close()` for a bus with no async subscriber, from code that has no event loop."""
        if self.needs_loop:
            raise RuntimeError("this bus has async subscribers: close it with `await close()`")
        if self._start_closing():
            _wait_for(self._subs, time.monotonic() + timeout)
            self._abandon_unfinished()

    def _start_closing(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        for sub in self._subs:
            sub.close_mailbox()
        return True

    def _abandon_unfinished(self) -> None:
        for sub in self._subs:
            if sub.finished.is_set():
                continue
            log.warning("event subscriber %s did not finish in time; abandoned", sub.name)
            task = self._tasks.get(sub)
            if task is not None:
                task.cancel()


def _wait_for(subs: Iterable[Subscription], deadline: float) -> None:
    for sub in subs:
        sub.finished.wait(max(0.0, deadline - time.monotonic()))
