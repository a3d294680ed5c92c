"""The upstream: the real API or any Anthropic-compatible server, reached with httpx2 (the
HTTP client the `anthropic` package itself uses), one pooled async client per gateway.

Headers go on as the client sent them (`anthropic-version`, `anthropic-beta`, its user
agent and the rest), but for the hop-by-hop ones, which belong to each connection, and the
credentials when the client presented a gateway key: those are replaced by the gateway's
own upstream key, which never leaves the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx2

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones recomputed for each message.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_CREDENTIALS = frozenset({"x-api-key", "authorization"})
# The gateway reads (and may change) what it relays: it comes uncompressed.
_ENCODING = frozenset({"accept-encoding"})
_RESPONSE_DROPPED = _HOP_BY_HOP | {"content-encoding"}

UpstreamError = httpx2.HTTPError


class Upstream:
    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout, connect=10.0),
            limits=httpx2.Limits(max_connections=256, max_keepalive_connections=64),
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> httpx2.Response:
        """Send a request and return the response with its body not read yet (the caller
        streams or reads it, and closes it)."""
        url = self.base_url + path + (f"?{query}" if query else "")
        request = self.client.build_request(method, url, headers=headers, content=body)
        return await self.client.send(request, stream=True)


def request_headers(
    client_headers: Iterable[tuple[str, str]],
    *,
    upstream_key: str | None,
    replace_credentials: bool,
) -> list[tuple[str, str]]:
    """The headers to send upstream for a client's request. `replace_credentials`: the
    client presented a gateway key (the upstream gets the gateway's key instead). The
    gateway reads the responses it relays, so it asks for them uncompressed."""
    dropped = _HOP_BY_HOP | _ENCODING | (_CREDENTIALS if replace_credentials else frozenset())
    headers = [(k, v) for k, v in client_headers if k.lower() not in dropped]
    if replace_credentials and upstream_key:
        headers.append(("x-api-key", upstream_key))
    headers.append(("accept-encoding", "identity"))
    return headers


def response_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """The upstream's response headers to hand the client (request-id, rate limits, ...)."""
    return {k: v for k, v in headers.items() if k.lower() not in _RESPONSE_DROPPED}


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client presented: `x-api-key`, or a bearer token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None
