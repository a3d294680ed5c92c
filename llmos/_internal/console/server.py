"""Serving the console: uvicorn on a socket bound here (a port in use is a clear error before
anything starts; port 0 picks a free one), in the foreground (`llmos console`) or as a task
beside the kernel's work (`llmos kernel start --console`), or in a thread (tests).

While it serves, the console holds `state/console.lock` locked (runs with nobody at their
terminal then send their questions to its inbox: llmos/_internal/kernel/approval_inbox.py) and
`state/console.json` (mode 600) says where it is, without the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

import uvicorn

from llmos._internal.console.app import Console
from llmos._internal.console.auth import Gatekeeper, hash_password
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.listening import listening_socket
from llmos._internal.security.console_watch import console_lock_path
from llmos._internal.workspace import Workspace

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Address:
    """Where a served console listens, and the one-time token that opens it."""

    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def login_url(self) -> str:
        return f"{self.url}?token={self.token}" if self.token else self.url


def make_console(
    ws: Workspace, sock: socket.socket, *, password: str | None = None
) -> tuple[Console, Address]:
    host, port = sock.getsockname()[:2]
    gate = Gatekeeper(password=hash_password(password) if password else None)
    loopback = host in LOOPBACK or host.startswith("127.")
    console = Console(ws, gate, port=port, loopback=loopback)
    return console, Address(host, port, gate.token)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller handles the signals (cli/console.py, the kernel)


@contextlib.contextmanager
def presence(ws: Workspace, address: Address) -> Iterator[None]:
    """Hold `state/console.lock` and write `state/console.json` while the console serves."""
    path = console_lock_path(ws.state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: TextIO = path.open("a")
    # Shared: two consoles may serve at once, and either one watches the inbox.
    fcntl.flock(handle, fcntl.LOCK_SH)
    info = ws.state_dir / "console.json"
    atomic_write_text(
        info,
        json.dumps({"url": address.url, "pid": os.getpid(), "started_at": time.time()}) + "\n",
    )
    with contextlib.suppress(OSError):
        info.chmod(0o600)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            info.unlink()
        handle.close()


async def serve(
    console: Console,
    sock: socket.socket,
    stop: asyncio.Event,
    *,
    ready: Callable[[], None] = lambda: None,
    started: Callable[[uvicorn.Server], None] | None = None,
) -> None:
    """Serve until `stop` is set."""
    config = uvicorn.Config(
        console.app(),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        http="h11",
        loop="asyncio",
    )
    server = _Server(config)
    if started is not None:
        started(server)

    async def watch() -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        ready()
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


class ConsoleThread:
    """A console served by a thread of this process (tests, embedding)."""

    def __init__(self, ws: Workspace, *, password: str | None = None, port: int = 0) -> None:
        self.sock = listening_socket("127.0.0.1", port)
        self.console, self.address = make_console(ws, self.sock, password=password)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="llmos-console", daemon=True)

    def start(self, timeout: float = 30.0) -> ConsoleThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the console did not start")
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            with presence(self.console.ws, self.address):
                await serve(self.console, self.sock, self._stop, ready=self._ready.set)

        asyncio.run(main())

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self.sock.close()
