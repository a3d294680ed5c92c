"""The `telemetry:` section of config.yaml, and where spans go once the environment is read.

```yaml
telemetry:
  enabled: true
  endpoint: http://127.0.0.1:5000      # OTLP base URL: /v1/traces is added (http/protobuf)
  protocol: http/protobuf              # or grpc (with the gRPC exporter installed)
  headers:
    x-mlflow-experiment-id: "0"
    Authorization: Basic ${LANGFUSE_AUTH}   # ${VAR}: read from the environment
  capture_content: false               # goals, tool inputs and outputs, answers: opt in
  service_name: llmos
  timeout_secs: 10                     # one export request (with its retries)
  flush_timeout_secs: 2                # what a finishing process waits for its last spans
```

The standard OpenTelemetry variables override the file (a one-off
`OTEL_EXPORTER_OTLP_ENDPOINT=... llmos run ...` needs no edit): `OTEL_EXPORTER_OTLP_ENDPOINT`
and `..._TRACES_ENDPOINT` (the exact URL), `OTEL_EXPORTER_OTLP_HEADERS` and
`..._TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_PROTOCOL` and `..._TRACES_PROTOCOL`,
`OTEL_EXPORTER_OTLP_TIMEOUT` and `..._TRACES_TIMEOUT` (milliseconds), `OTEL_SERVICE_NAME`,
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`; `OTEL_SDK_DISABLED=true` turns
telemetry off and `LLMOS_TELEMETRY=1|0` on or off. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen

PROTOCOLS = ("http/protobuf", "grpc")
TRACES_PATH = "/v1/traces"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@frozen
class TelemetrySettings:
    """config.yaml's `telemetry:` section, checked (types, protocol, endpoint's form)."""

    enabled: bool = False
    endpoint: str | None = None
    protocol: str = "http/protobuf"
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    capture_content: bool = False
    service_name: str = "llmos"
    timeout_secs: float = 10.0
    flush_timeout_secs: float = 2.0

    @classmethod
    def from_mapping(cls, data: Any, *, source: Path) -> TelemetrySettings:
        where = f"{source}: telemetry"
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise UsageError(
                f"{where}: expected a mapping (enabled, endpoint, protocol, headers...)",
                hint="See the telemetry section of the shipped config.yaml.",
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"{where}: unknown setting(s) {', '.join(map(str, unknown))}",
                hint=f"Known telemetry settings: {', '.join(sorted(known))}.",
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _checked(name, value, where)
        settings = cls(**values)
        if settings.endpoint is not None:
            _check_endpoint(settings.endpoint, settings.protocol, where)
        return settings


def _checked(name: str, value: Any, where: str) -> Any:
    if name in ("enabled", "capture_content"):
        if not isinstance(value, bool):
            raise UsageError(f"{where}.{name}: expected true or false, got {value!r}")
        return value
    if name in ("timeout_secs", "flush_timeout_secs"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise UsageError(f"{where}.{name}: expected a number of seconds above 0, got {value!r}")
        if value == float("inf"):
            raise UsageError(f"{where}.{name}: expected a finite number of seconds")
        return float(value)
    if name == "headers":
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise UsageError(
                f"{where}.headers: expected a mapping of header names to text",
                hint='For example: headers: {x-mlflow-experiment-id: "0"}',
            )
        return {k: str(v) for k, v in value.items()}
    if name == "protocol":
        if value not in PROTOCOLS:
            raise UsageError(
                f"{where}.protocol: {value!r} is not supported",
                hint=f"Use one of: {', '.join(PROTOCOLS)}.",
            )
        return value
    # endpoint, service_name
    if value is None and name == "endpoint":
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}.{name}: expected text, got {value!r}")
    return value.strip()


def _check_endpoint(endpoint: str, protocol: str, where: str) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{where}: endpoint {endpoint!r} is not an http(s) URL",
            hint="For example http://127.0.0.1:4318 (http/protobuf) or http://127.0.0.1:4317 "
            "(grpc).",
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UsageError(f"{where}: endpoint {endpoint!r}: {exc}") from exc


@frozen
class ExportConfig:
    """Where and how this process sends spans: the settings with the environment applied."""

    endpoint: str  # the full URL spans are posted to (http), or the collector's (grpc)
    protocol: str
    headers: Mapping[str, str]
    capture_content: bool
    service_name: str
    timeout_secs: float
    flush_timeout_secs: float

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.endpoint, self.protocol, tuple(sorted(self.headers.items())))


def enabled(settings: TelemetrySettings, environ: Mapping[str, str] | None = None) -> bool:
    """Whether live runs send spans: `LLMOS_TELEMETRY` over `OTEL_SDK_DISABLED` over the file."""
    env = os.environ if environ is None else environ
    choice = env.get("LLMOS_TELEMETRY")
    if choice is not None:
        if choice.strip().lower() not in (*_TRUE, *_FALSE):
            raise UsageError(
                f"LLMOS_TELEMETRY={choice!r} is neither on nor off", hint="Use 1 or 0."
            )
        return choice.strip().lower() in _TRUE
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return settings.enabled


def resolve(
    settings: TelemetrySettings,
    environ: Mapping[str, str] | None = None,
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    protocol: str | None = None,
    capture_content: bool | None = None,
    need_endpoint: bool = True,
) -> ExportConfig:
    """The export configuration: keyword arguments (a command's options) over the
    environment's OTEL_* variables over config.yaml. UsageError saying what is missing
    (a dry run needs no endpoint: its `endpoint` is then "")."""
    env = os.environ if environ is None else environ
    where = "telemetry"
    chosen_protocol = (
        protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or settings.protocol
    )
    if chosen_protocol not in PROTOCOLS:
        raise UsageError(
            f"OTLP protocol {chosen_protocol!r} is not supported",
            hint=f"Use one of: {', '.join(PROTOCOLS)} (OTEL_EXPORTER_OTLP_PROTOCOL, or "
            "telemetry.protocol in config.yaml).",
        )
    url = _endpoint(settings, env, endpoint, chosen_protocol)
    if url is None and not need_endpoint:
        url = ""
    elif url is None:
        raise UsageError(
            "telemetry has no endpoint to send spans to",
            hint="Set telemetry.endpoint in config.yaml, or OTEL_EXPORTER_OTLP_ENDPOINT "
            "(for example http://127.0.0.1:5000 for MLflow).",
        )
    if url:
        _check_endpoint(url, chosen_protocol, where)
    merged = {k.lower(): _expand(v, env, k) for k, v in settings.headers.items()}
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        merged.update(parse_headers(env.get(name, ""), source=name))
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    content = capture_content
    if content is None:
        flag = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        content = flag.strip().lower() in _TRUE if flag is not None else settings.capture_content
    return ExportConfig(
        endpoint=url,
        protocol=chosen_protocol,
        headers=merged,
        capture_content=content,
        service_name=env.get("OTEL_SERVICE_NAME") or settings.service_name,
        timeout_secs=_timeout(env) or settings.timeout_secs,
        flush_timeout_secs=settings.flush_timeout_secs,
    )


def _endpoint(
    settings: TelemetrySettings, env: Mapping[str, str], given: str | None, protocol: str
) -> str | None:
    exact = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if given is None and exact:
        return exact.strip()
    base = given or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or settings.endpoint
    if not base:
        return None
    base = base.strip()
    if protocol == "grpc":
        return base
    return traces_url(base)


def traces_url(base: str) -> str:
    """The OTLP/HTTP traces URL of a base endpoint: `/v1/traces` added, unless it is there
    (so both `http://host:5000` and `http://host:5000/v1/traces` work)."""
    trimmed = base.rstrip("/")
    return trimmed if trimmed.endswith(TRACES_PATH) else trimmed + TRACES_PATH


def parse_headers(text: str, *, source: str) -> dict[str, str]:
    """`key1=value1,key2=value2` (the OTEL_EXPORTER_OTLP_HEADERS form: values URL-encoded)."""
    headers: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"{source}: {item.strip()!r} is not key=value",
                hint="Headers are given as key1=value1,key2=value2 (values URL-encoded).",
            )
        headers[unquote(name.strip()).lower()] = unquote(value.strip())
    return headers


def _expand(value: str, env: Mapping[str, str], header: str) -> str:
    def variable(match: re.Match[str]) -> str:
        name = match[1]
        if name not in env:
            raise UsageError(
                f"telemetry header {header} uses ${{{name}}}, which is not set",
                hint=f"Export {name} before running llmos, or write the value in config.yaml.",
            )
        return env[name]

    return _VARIABLE.sub(variable, value)


def _timeout(env: Mapping[str, str]) -> float | None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        text = env.get(name)
        if text:
            try:
                millis = float(text)
            except ValueError:
                raise UsageError(f"{name}={text!r} is not a number of milliseconds") from None
            if not 0 < millis < float("inf"):
                raise UsageError(f"{name}={text!r} is not a number of milliseconds above 0")
            return millis / 1000
    return None
