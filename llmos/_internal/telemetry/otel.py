"""llmos's spans handed to the OpenTelemetry SDK and its OTLP exporter.

Imported only when spans are to be sent (telemetry on, or `llmos sessions export`): it loads
the OpenTelemetry SDK, protobuf and an HTTP or gRPC client, a few hundred milliseconds that
no other run pays (the optional extra `llmos[telemetry]`).

Spans are finished `SpanRecord`s with their own ids (llmos/_internal/telemetry/ids.py), so they are
not made by a tracer: each becomes a `ReadableSpan` given straight to a `BatchSpanProcessor`,
whose thread exports them in batches. A failing endpoint is reported once per process, in
one line (the exporter's own retry messages are kept to themselves), and never raises.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from llmos._internal.errors import UsageError
from llmos._internal.security.redact import redact
from llmos._internal.telemetry import semconv as sc
from llmos._internal.telemetry.content import safe_text
from llmos._internal.telemetry.spans import SpanRecord
from llmos._internal.telemetry_settings import ExportConfig

log = logging.getLogger(__name__)

_EXPORTER_LOGGER = "opentelemetry.exporter"
_SCHEDULE_DELAY_MS = 1000  # spans of a long run go out while it runs, not all at its end
_BATCH = 256
_GRACE_SECS = 0.5
_QUEUE = 8192  # spans waiting for the exporter (a busy kernel's runs) before any is dropped


def _llmos_version() -> str:
    try:
        return version("llmos")
    except PackageNotFoundError:
        return "0"


VERSION = _llmos_version()
_SCOPE = InstrumentationScope(sc.SCOPE_NAME, VERSION, sc.SCHEMA_URL)
_KINDS = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def resource(config: ExportConfig) -> Resource:
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (deployment.environment...).
    return Resource.create(
        {"service.name": config.service_name, "service.version": VERSION},
        schema_url=sc.SCHEMA_URL,
    )


def to_readable(record: SpanRecord, where: Resource) -> ReadableSpan:
    context = _context(record.trace_id, record.span_id)
    parent = _context(record.trace_id, record.parent_id) if record.parent_id else None
    status = Status()
    if record.error:
        status = Status(StatusCode.ERROR, record.error_message or record.error)
    return ReadableSpan(
        record.name,
        context=context,
        parent=parent,
        resource=where,
        attributes=record.attributes,
        events=[Event(event.name, event.attributes, _nanos(event.at)) for event in record.events],
        kind=_KINDS[record.kind],
        status=status,
        start_time=_nanos(record.start),
        end_time=_nanos(max(record.end, record.start)),
        instrumentation_scope=_SCOPE,
    )


def _context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)


def _nanos(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def make_exporter(config: ExportConfig) -> SpanExporter:
    """The OTLP exporter for `config` (http/protobuf, or grpc if its package is installed)."""
    headers = dict(config.headers)
    if config.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise UsageError(
                "telemetry.protocol is grpc, but the OTLP gRPC exporter is not installed",
                hint="pip install opentelemetry-exporter-otlp-proto-grpc, or use http/protobuf.",
            ) from None
        return GrpcExporter(
            endpoint=config.endpoint,
            insecure=config.endpoint.startswith("http://"),
            headers=headers,
            timeout=config.timeout_secs,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=config.endpoint, headers=headers, timeout=config.timeout_secs)


class ExporterMessages(logging.Handler):
    """What the OTLP exporter logs (its retries, its final error), kept from the terminal:
    llmos says it once, in its own words, with the last message as the reason."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first = ""  # since `begin`: the cause, before the retries' final word

    def begin(self) -> None:
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        if not self.first:
            self.first = record.getMessage()


_messages: ExporterMessages | None = None


def exporter_messages() -> ExporterMessages:
    global _messages
    if _messages is None:
        _messages = ExporterMessages()
        logger = logging.getLogger(_EXPORTER_LOGGER)
        logger.addHandler(_messages)
        logger.propagate = bool(os.environ.get("LLMOS_DEBUG"))
    return _messages


_TRANSIENT = re.compile(r"^Transient error (.*) encountered while exporting .*$", re.DOTALL)
_KNOWN_CAUSES = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("timed out", "no answer in time"),
    ("Failed to establish a new connection", "cannot connect"),
)


def cause(message: str) -> str:
    """The exporter's message about a failed export, as a few words a user can act on."""
    if not message:
        return "no answer"
    inner = _TRANSIENT.match(message)
    text = inner[1] if inner else message
    for needle, words in _KNOWN_CAUSES:
        if needle in text:
            return words
    return safe_text(text, 300)


class ReportingExporter(SpanExporter):
    """An exporter that counts what it sent and says once that the endpoint failed."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.sent = 0
        self.failed = 0
        self._reported = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        messages = exporter_messages()
        messages.begin()  # one export at a time: the batch processor's thread
        try:
            result = self.inner.export(spans)
            detail = messages.first
        except Exception as exc:  # an exporter bug must not reach the run
            result, detail = SpanExportResult.FAILURE, str(exc) or type(exc).__name__
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
                return result
            self.failed += len(spans)
            if self._reported:
                return result
            self._reported = True
        log.warning(
            "telemetry: could not send spans to %s (%s); runs go on, and `llmos sessions "
            "export RUN --otlp` can send them later",
            redact(self.endpoint),
            cause(detail),
        )
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # also stops a retry that is waiting

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Pipeline:
    """Where one process's spans go: an exporter behind a batch processor."""

    def __init__(
        self, config: ExportConfig, exporter: SpanExporter | None = None, *, batch: bool = True
    ) -> None:
        self.config = config
        self.resource = resource(config)
        self.exporter = ReportingExporter(exporter or make_exporter(config), config.endpoint)
        self.processor: SpanProcessor = (
            BatchSpanProcessor(
                self.exporter,
                schedule_delay_millis=_SCHEDULE_DELAY_MS,
                max_export_batch_size=_BATCH,
                max_queue_size=_QUEUE,
            )
            if batch
            else SimpleSpanProcessor(self.exporter)
        )

    def add(self, record: SpanRecord) -> None:
        self.processor.on_end(to_readable(record, self.resource))

    def flush(self, timeout_secs: float) -> bool:
        """Send what is queued, waiting at most `timeout_secs` (a batch processor's own
        flush waits for as long as the exporter retries). False if it did not finish: then
        the exporter is stopped, so that a retry does not go on waiting."""
        done = threading.Event()

        def flush() -> None:
            self.processor.force_flush()
            done.set()

        threading.Thread(target=flush, name="llmos-telemetry-flush", daemon=True).start()
        if not done.wait(timeout_secs):
            self.exporter.shutdown()
            done.wait(_GRACE_SECS)  # the retry stops at once: its failure (and cause) is said
            return False
        return True

    def send_now(self, records: Sequence[SpanRecord]) -> tuple[int, str | None]:
        """Export `records` at once, in batches, bypassing the processor (a backfill wants
        to know how it went): how many were sent, and the error that stopped the rest."""
        messages = exporter_messages()
        readable = [to_readable(record, self.resource) for record in records]
        sent = 0
        for start in range(0, len(readable), _BATCH):
            batch = readable[start : start + _BATCH]
            messages.begin()
            try:
                result = self.exporter.inner.export(batch)
            except Exception as exc:
                return sent, str(exc) or type(exc).__name__
            if result is not SpanExportResult.SUCCESS:
                return sent, cause(messages.first) if messages.first else "the endpoint refused"
            sent += len(batch)
        return sent, None
