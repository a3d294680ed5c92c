"""The event bus: a slow or failing subscriber never stalls or breaks a run."""

from __future__ import annotations

import asyncio
import time

from llmos.kernel.bus import EventBus
from llmos.kernel.events import AssistantText, Event


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


def test_slow_and_failing_subscribers_do_not_stall_the_publisher() -> None:
    async def main() -> tuple[float, list[str], int, int]:
        bus = EventBus(queue_size=3)
        fast: list[str] = []

        async def slow(event: Event) -> None:
            await asyncio.sleep(30)

        def failing(event: Event) -> None:
            raise RuntimeError("subscriber bug")

        slow_sub = bus.subscribe(slow, name="slow")
        failing_sub = bus.subscribe(failing, name="failing")
        bus.subscribe(lambda e: fast.append(e.text), name="fast")  # type: ignore[attr-defined]
        started = time.monotonic()
        for n in range(10):
            bus.publish(_event(n))
            await asyncio.sleep(0)
        publish_time = time.monotonic() - started
        await bus.close(timeout=0.2)
        return publish_time, fast, slow_sub.dropped, failing_sub.failures

    publish_time, fast, dropped, failures = asyncio.run(main())
    assert publish_time < 1.0
    assert fast == [str(n) for n in range(10)]
    assert dropped > 0  # the slow subscriber's bounded queue dropped its oldest events
    assert failures == 10  # the failing one saw every event and never stopped the others
