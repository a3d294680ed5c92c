"""The event bus: a slow, blocked or failing subscriber never stalls or breaks a run."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from llmos._internal.kernel.bus import EventBus, Subscription
from llmos._internal.kernel.events import AssistantText, Event


def _event(n: int) -> Event:
    return AssistantText(run_id="r", text=str(n))


def test_events_reach_every_subscriber_in_order() -> None:
    async def main() -> tuple[list[str], list[str]]:
        bus = EventBus()
        sync_seen: list[str] = []
        async_seen: list[str] = []

        async def record(event: Event) -> None:
            async_seen.append(event.text)  # type: ignore[attr-defined]

        bus.subscribe(lambda e: sync_seen.append(e.text), name="sync")  # type: ignore[attr-defined]
        bus.subscribe(record, name="async")
        for n in range(5):
            bus.publish(_event(n))
        await bus.close()
        return sync_seen, async_seen

    sync_seen, async_seen = asyncio.run(main())
    assert sync_seen == async_seen == ["0", "1", "2", "3", "4"]


async def _wait_in_thread(flag: threading.Event) -> None:
    assert await asyncio.to_thread(flag.wait, 10)


def test_a_blocked_plain_subscriber_never_stalls_the_publisher() -> None:
    """A sync handler stuck in a blocking call (a terminal nobody reads) holds up only itself."""

    async def main() -> tuple[Subscription, list[str], float]:
        bus = EventBus(queue_size=3)
        entered, release = threading.Event(), threading.Event()
        fast: list[str] = []

        def blocked(event: Event) -> None:
            entered.set()
            release.wait(10)

        stuck = bus.subscribe(blocked, name="blocked")
        bus.subscribe(lambda e: fast.append(e.text), name="fast", queue_size=100)  # type: ignore[attr-defined]
        bus.publish(_event(0))
        await _wait_in_thread(entered)  # the handler now blocks on event 0
        started = time.monotonic()
        for n in range(1, 10):
            bus.publish(_event(n))
        publish_time = time.monotonic() - started
        await bus.close(timeout=0.05)  # gives up on the stuck subscriber and returns
        release.set()
        return stuck, fast, publish_time

    stuck, fast, publish_time = asyncio.run(main())
    assert publish_time < 0.5
    assert fast == [str(n) for n in range(10)]
    # Overflow rule: the mailbox (3) kept the newest events; the 6 oldest pending were dropped.
    assert stuck.dropped == 6


def test_a_slow_async_subscriber_drops_its_oldest_events() -> None:
    async def main() -> tuple[Subscription, list[str]]:
        bus = EventBus(queue_size=3)
        gate = asyncio.Event()
        seen: list[str] = []

        async def slow(event: Event) -> None:
            await gate.wait()
            seen.append(event.text)  # type: ignore[attr-defined]

        sub = bus.subscribe(slow, name="slow")
        bus.publish(_event(0))
        await asyncio.sleep(0)  # let the worker pick up event 0 and wait at the gate
        for n in range(1, 10):
            bus.publish(_event(n))
        gate.set()
        await bus.close()
        return sub, seen

    sub, seen = asyncio.run(main())
    assert seen == ["0", "7", "8", "9"]
    assert sub.dropped == 6 and sub.delivered == 4


def test_a_failing_subscriber_is_counted_and_keeps_receiving() -> None:
    async def main() -> tuple[Subscription, Subscription, list[str]]:
        bus = EventBus()
        fine: list[str] = []

        def failing(event: Event) -> None:
            raise RuntimeError("subscriber bug")

        async def failing_async(event: Event) -> None:
            raise RuntimeError("async subscriber bug")

        sync_sub = bus.subscribe(failing, name="failing")
        async_sub = bus.subscribe(failing_async, name="failing-async")
        bus.subscribe(lambda e: fine.append(e.text), name="fine")  # type: ignore[attr-defined]
        for n in range(10):
            bus.publish(_event(n))
        await bus.close()
        return sync_sub, async_sub, fine

    sync_sub, async_sub, fine = asyncio.run(main())
    assert sync_sub.failures == async_sub.failures == 10
    assert fine == [str(n) for n in range(10)]


def test_on_close_runs_after_the_last_event_and_publish_after_close_is_ignored() -> None:
    async def main() -> list[str]:
        bus = EventBus()
        seen: list[str] = []
        bus.subscribe(
            lambda e: seen.append(e.text),  # type: ignore[attr-defined]
            name="log",
            on_close=lambda sub: seen.append(f"closed after {sub.delivered}"),
        )
        for n in range(3):
            bus.publish(_event(n))
        await bus.close()
        bus.publish(_event(99))
        return seen

    assert asyncio.run(main()) == ["0", "1", "2", "closed after 3"]


def test_plain_subscribers_need_no_event_loop() -> None:
    """A replay publishes and closes its bus without asyncio
    (llmos/_internal/modes/dispatcher.py)."""
    bus = EventBus()
    seen: list[str] = []
    closed: list[int] = []
    bus.subscribe(
        lambda e: seen.append(e.text),  # type: ignore[attr-defined]
        name="plain",
        on_close=lambda sub: closed.append(sub.delivered),
    )
    assert not bus.needs_loop
    for n in range(3):
        bus.publish(_event(n))
    bus.close_blocking()
    assert seen == ["0", "1", "2"] and closed == [3]

    async def handler(event: Event) -> None:
        pass

    with pytest.raises(RuntimeError):  # an async subscriber needs the running loop
        EventBus().subscribe(handler, name="async")


def test_close_blocking_refuses_a_bus_with_async_subscribers() -> None:
    async def main() -> None:
        bus = EventBus()

        async def handler(event: Event) -> None:
            pass

        bus.subscribe(handler, name="async")
        assert bus.needs_loop
        with pytest.raises(RuntimeError, match="await close"):
            bus.close_blocking()
        await bus.close()

    asyncio.run(main())
