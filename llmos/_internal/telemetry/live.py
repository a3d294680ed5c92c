"""Telemetry of live runs: a bus subscriber per run, one exporter per process.

The subscriber (`RunTelemetry`, like the session log a plain function with a thread of its
own on the run's bus) feeds the run's events to a `SpanBuilder` and hands each finished span
to the process's `Shipper`. Neither imports OpenTelemetry: the shipper's own thread does, on
the first span, and exports through a batch processor. So a run never waits for the
exporter: not for its import (a few hundred milliseconds), not for a slow or dead endpoint.

When the process ends, the shipper sends what is left, waiting at most
`flush_timeout_secs` (atexit): a dead endpoint costs that once, and is reported once.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmos._internal.kernel.events import Event
from llmos._internal.security.redact import redact
from llmos._internal.telemetry.content import ContentPolicy
from llmos._internal.telemetry.spans import SpanBuilder, SpanRecord
from llmos._internal.telemetry_settings import ExportConfig

if TYPE_CHECKING:
    from llmos._internal.kernel.bus import EventBus, Subscription
    from llmos._internal.telemetry.otel import Pipeline

log = logging.getLogger(__name__)

# Like the session log's: the subscriber must not lose a run's events to the bus's overflow
# rule (building a span takes microseconds).
QUEUE_SIZE = 100_000
_STOP = object()


class Shipper:
    """The process's exporter for one configuration, in a thread of its own."""

    def __init__(self, config: ExportConfig, make_pipeline: Callable[[], Pipeline] | None = None):
        self.config = config
        self._make_pipeline = make_pipeline
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0
        self.pipeline: Pipeline | None = None
        self.broken: str | None = None  # why nothing can be exported from this process

    def start(self) -> None:
        """Start the exporter's thread (it loads OpenTelemetry while the first run goes on,
        so that a short run's process does not wait for that at its exit)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name="llmos-telemetry", daemon=True
                    )
                    self._thread.start()

    def submit(self, span: SpanRecord) -> None:
        """Queue `span` for export; never waits."""
        with self._idle:
            self._pending += 1
        self._queue.put(span)
        self.start()

    def _work(self) -> None:
        try:
            self.pipeline = self._open()
        except Exception as exc:
            self.broken = str(exc) or type(exc).__name__
            log.warning("telemetry: cannot export spans (%s); runs go on without", self.broken)
        while (item := self._queue.get()) is not _STOP:
            try:
                if self.pipeline is not None:
                    self.pipeline.add(item)
            except Exception:
                log.debug("telemetry: a span could not be exported", exc_info=True)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _open(self) -> Pipeline:
        if self._make_pipeline is not None:
            return self._make_pipeline()
        from llmos._internal.telemetry.otel import Pipeline  # the OpenTelemetry SDK: only now

        return Pipeline(self.config)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted span reached the pipeline (at most `timeout` s)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Send what is left, waiting at most `timeout` (the config's flush timeout) in all."""
        if self._thread is None:
            return
        budget = self.config.flush_timeout_secs if timeout is None else timeout
        deadline = time.monotonic() + budget
        ready = self.wait_idle(budget)
        pipeline = self.pipeline
        sent = pipeline is not None and pipeline.flush(max(0.0, deadline - time.monotonic()))
        if not (ready and sent) and self.broken is None and not _reported(pipeline):
            log.warning(
                "telemetry: the last spans were not sent to %s within flush_timeout_secs "
                "(%.3g s); `llmos sessions export RUN --otlp` can send them",
                redact(self.config.endpoint),
                budget,
            )


def _reported(pipeline: Pipeline | None) -> bool:
    """Whether the exporter already said it failed (once is enough)."""
    return pipeline is not None and pipeline.exporter.failed > 0


_shippers: dict[tuple[Any, ...], Shipper] = {}
_shippers_lock = threading.Lock()
_override: Shipper | None = None


def shipper_for(config: ExportConfig) -> Shipper:
    """The process's shipper for `config` (one per endpoint, protocol and headers)."""
    if _override is not None:
        return _override
    with _shippers_lock:
        shipper = _shippers.get(config.key)
        if shipper is None:
            if not _shippers:
                atexit.register(close_all)
            shipper = _shippers[config.key] = Shipper(config)
        return shipper


def close_all() -> None:
    """Flush every shipper (at exit; also for a long-lived process that wants to)."""
    for shipper in list(_shippers.values()):
        try:
            shipper.close()
        except Exception:
            log.debug("telemetry: flushing failed", exc_info=True)


@contextmanager
def capture(config: ExportConfig, make_pipeline: Callable[[], Pipeline]) -> Iterator[Shipper]:
    """Within the block, every run's spans go to `make_pipeline()`'s pipeline, whatever its
    settings say (tests: an in-memory exporter)."""
    global _override
    previous, _override = _override, Shipper(config, make_pipeline)
    try:
        yield _override
    finally:
        _override.close(timeout=10)
        _override = previous


class RunTelemetry:
    """The bus subscriber of one run: its events in, its spans to the shipper."""

    def __init__(self, shipper: Shipper, content: ContentPolicy, parent_run_id: str | None):
        self.shipper = shipper
        self.parent_run_id = parent_run_id
        self.builder = SpanBuilder(shipper.submit, content)
        self._failed = False

    def attach(self, bus: EventBus) -> Subscription:
        self.shipper.start()
        return bus.subscribe(
            self, name="telemetry", queue_size=QUEUE_SIZE, on_close=lambda _: self.finish()
        )

    def __call__(self, event: Event) -> None:
        if self._failed:
            return
        # A shallow copy (the builder only reads): `to_dict` deep-copies, at ten times the cost.
        record = {"kind": event.kind, **vars(event), "parent_run_id": self.parent_run_id}
        try:
            self.builder.feed(record)
        except Exception:  # a bug here must cost the run its spans, nothing more
            self._failed = True
            log.warning("telemetry: the spans of run %s are incomplete", event.run_id)
            log.debug("telemetry: the span builder failed", exc_info=True)

    def finish(self) -> None:
        if not self._failed:
            self.builder.finish()
