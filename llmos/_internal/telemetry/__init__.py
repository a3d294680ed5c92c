"""Telemetry: every run as OpenTelemetry GenAI spans, sent over OTLP (MLflow, Langfuse...).

The surface the rest of llmos uses:

- `prepare(settings)`: whether live runs send spans, and where (None when telemetry is
  off; a UsageError, before the run starts, when it is on but cannot work);
- `attach(config, ctx, parent_run_id)`: subscribe a run's bus (next to its session log)
  and set the run's W3C trace context for the agent's CLI;
- `llmos._internal.telemetry.backfill`: spans of past runs from their session logs.

This module and `settings` import nothing heavy; the OpenTelemetry SDK is loaded by the
exporter's own thread only once a span is to be sent (llmos/_internal/telemetry/live.py).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from llmos._internal.errors import UsageError
from llmos._internal.telemetry_settings import ExportConfig, TelemetrySettings, enabled, resolve

if TYPE_CHECKING:
    from llmos._internal.kernel.run_context import RunContext

__all__ = ["ExportConfig", "TelemetrySettings", "attach", "prepare", "require_sdk"]

EXTRA_HINT = "Install it with: pip install 'llmos[telemetry]' (in llmos's own environment)."


def prepare(settings: TelemetrySettings) -> ExportConfig | None:
    """The export configuration of live runs, or None when telemetry is off."""
    if not enabled(settings):
        return None
    config = resolve(settings)
    require_sdk(config.protocol)
    return config


def require_sdk(protocol: str = "http/protobuf") -> None:
    """UsageError unless the OpenTelemetry SDK and the protocol's exporter are installed."""
    exporter = "grpc" if protocol == "grpc" else "http"
    for module in ("opentelemetry.sdk", f"opentelemetry.exporter.otlp.proto.{exporter}"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise UsageError(
                f"telemetry is on, but the OpenTelemetry packages are not installed ({module})",
                hint=EXTRA_HINT,
            )


def attach(config: ExportConfig, ctx: RunContext, parent_run_id: str | None) -> None:
    """Send the spans of the run of `ctx` (its bus: subscribe before the run starts)."""
    from llmos._internal.telemetry.content import ContentPolicy
    from llmos._internal.telemetry.ids import traceparent
    from llmos._internal.telemetry.live import RunTelemetry, shipper_for

    content = ContentPolicy(config.capture_content)
    RunTelemetry(shipper_for(config), content, parent_run_id).attach(ctx.bus)
    ctx.traceparent = traceparent(parent_run_id or ctx.run_id, ctx.run_id)
