"""Serving the gateway: uvicorn (an ASGI server) on a socket the gateway binds itself, so a
port in use is a clear error before anything starts, and port 0 tells which port it got.

SIGINT, SIGTERM and SIGHUP stop it cleanly: no new connections, the requests in flight get
a few seconds, every conversation is closed (ledger rows, sealed session logs). Stopping a
server is how it ends, so that is exit status 0.

While it runs, `state/gateway/<port>.json` (readable by its owner only) says where it is
and holds the token of its admin routes (llmos/_internal/gateway/app.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import uvicorn

from llmos._internal.fsutil import atomic_write_text
from llmos._internal.gateway.app import Gateway
from llmos._internal.listening import listening_socket

T = TypeVar("T")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_GRACE_SECS = 5
BACKLOG = 2048  # many agents may connect at once


def serve(gateway: Gateway, sock: socket.socket, *, ready: Callable[[str], None]) -> None:
    """Serve until a stop signal; `ready(url)` once it accepts connections."""
    asyncio.run(_serve(gateway, sock, ready, signals=True))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the gateway's loop handles them (below): uvicorn would re-raise them at exit


async def _serve(
    gateway: Gateway,
    sock: socket.socket,
    ready: Callable[[str], None],
    *,
    signals: bool,
    started: Callable[[_Server], None] | None = None,
) -> None:
    config = uvicorn.Config(
        gateway.app(),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=_GRACE_SECS,
        http="h11",
        loop="asyncio",
    )
    server = _Server(config)
    if started is not None:
        started(server)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True  # a second signal: do not wait for the requests
        server.should_exit = True

    if signals:
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, stop)
    port = sock.getsockname()[1]
    url = gateway.config.with_options(port=port).url
    where = _announce(gateway, url, port)
    watcher = asyncio.create_task(_when_started(server, lambda: ready(url)))
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        where.unlink(missing_ok=True)
        if signals:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)


class GatewayThread:
    """A gateway served by a thread of this process (tests, benchmarks, embedding): the
    gateway is made in that thread, with `make()`, since its databases belong to it."""

    def __init__(self, make: Callable[[], Gateway], *, host: str = "127.0.0.1") -> None:
        self._make = make
        self._host = host
        self._ready = threading.Event()
        self._server: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self.url = ""
        self.gateway: Gateway | None = None
        self._thread = threading.Thread(target=self._run, name="llmos-gateway", daemon=True)

    def start(self, timeout: float = 30.0) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"the gateway did not start: {self._error!r}")
        return self

    def call(self, work: Callable[[Gateway], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `work(gateway)` in the gateway's event loop and return its result."""
        assert self._loop is not None and self.gateway is not None
        gateway = self.gateway

        async def run() -> T:
            return await work(gateway)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.gateway = self._make()
            sock = listening_socket(self._host, 0, backlog=BACKLOG)

            def ready(url: str) -> None:
                self.url = url
                self._ready.set()

            def started(server: _Server) -> None:
                self._server = server
                self._loop = asyncio.get_running_loop()

            asyncio.run(_serve(self.gateway, sock, ready, signals=False, started=started))
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()


async def _when_started(server: uvicorn.Server, ready: Callable[[], None]) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    ready()


def _announce(gateway: Gateway, url: str, port: int) -> Path:
    folder = gateway.ws.state_dir / "gateway"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{port}.json"
    info = {
        "url": url,
        "pid": os.getpid(),
        "upstream": gateway.config.upstream,
        "admin_token": gateway.admin_token,
        "started_at": time.time(),
    }
    atomic_write_text(path, json.dumps(info, indent=2) + "\n", mode=0o600)
    return path
