"""`llmos console`: serve the web console (approvals inbox, runs, traces, budget, memory,
schedule) on 127.0.0.1 until Ctrl-C. Starlette and uvicorn are imported only here, when the
command runs (`llmos --help` and Follower runs never load them)."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from typing import Annotated

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import WorkspaceOption
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import UsageError

DEFAULT_PORT = 8765
PASSWORD_ENV = "LLMOS_CONSOLE_PASSWORD"


def console(
    port: Annotated[
        int,
        typer.Option("--port", help="Port to listen on (0 picks a free one).", min=0, max=65535),
    ] = DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but 127.0.0.1/localhost/::1 needs "
            "--allow-remote and a password.",
        ),
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help=f"Allow --host beyond this machine. A password is then required: from "
            f"${PASSWORD_ENV}, else asked for (kept only as a hash, in memory).",
        ),
    ] = False,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the console in your web browser.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Start, load the inbox page once with the token, print the address, and stop "
            "(is the console able to serve here?).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the address and one-time token as a JSON line, keep serving, and a "
            "last line when stopped.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the web console on 127.0.0.1: the approvals inbox for every run, runs live
    with their timelines, traces, budget, memory and the schedule.

    Approve, modify or reject the calls any run asks about (scheduled runs, gateway
    conversations, `llmos run --approve-via console`), watch runs and interrupt one, trust
    or delete traces, add or remove facts, pause or resume jobs.

    It prints its address with a one-time token: the first visit with it gets a session
    cookie and the token is spent. While it runs, runs with nobody at their terminal send
    their questions to its inbox (config.yaml `approvals:`). Ctrl-C stops it.
    """
    from llmos._internal.console.server import LOOPBACK, make_console
    from llmos._internal.listening import listening_socket

    ws = open_workspace(workspace, writes="serve the console")
    remote = host not in LOOPBACK and not host.startswith("127.")
    password = None
    if remote:
        if not allow_remote:
            raise UsageError(
                f"--host {host} serves the console beyond this machine",
                hint="Pass --allow-remote too (a password is then required), or keep "
                "--host 127.0.0.1 and reach it through an SSH tunnel.",
            )
        password = _password(as_json)
    sock = listening_socket(host, port)
    server, address = make_console(ws, sock, password=password)
    if check:
        _check(server, sock, address, as_json)
        return
    _serve(server, sock, address, as_json, open_browser)


def _password(as_json: bool) -> str:
    password = os.environ.get(PASSWORD_ENV, "")
    if not password and sys.stdin.isatty() and not as_json:
        password = getpass.getpass("console password (for --allow-remote): ")
    if len(password) < 8:
        raise UsageError(
            "a console reachable from other machines needs a password of 8 characters or more",
            hint=f"Set {PASSWORD_ENV}, or run it in a terminal to be asked for one.",
        )
    return password


def _announce(address: object, as_json: bool, event: str = "listening") -> None:
    from llmos._internal.console.server import Address

    assert isinstance(address, Address)
    if as_json:
        line = {
            "event": event,
            "at": time.time(),
            "url": address.url,
            "login_url": address.login_url,
            "token": address.token,
            "pid": os.getpid(),
        }
        print(json.dumps(line), flush=True)
        return
    out = terminal()
    out.print(f"llmos console on {address.url}", markup=False)
    out.print(f"  open (once, it logs you in): {address.login_url}", markup=False, soft_wrap=True)
    out.print("  Ctrl-C stops it", markup=False)


def _serve(server: object, sock: object, address: object, as_json: bool, open_it: bool) -> None:
    import asyncio
    import signal

    from llmos._internal.console.server import Address, presence, serve

    assert isinstance(address, Address)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)

        def ready() -> None:
            _announce(address, as_json)
            if open_it:
                import webbrowser

                webbrowser.open(address.login_url)

        try:
            await serve(server, sock, stop, ready=ready)  # type: ignore[arg-type]
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    with presence(server.ws, address):  # type: ignore[attr-defined]
        asyncio.run(main())
    if as_json:
        print(json.dumps({"event": "stopped", "at": time.time()}), flush=True)
    else:
        terminal().print("console stopped", markup=False)


def _check(server: object, sock: object, address: object, as_json: bool) -> None:
    """Serve in a thread, load the inbox once through the token, stop."""
    import asyncio
    import threading
    import urllib.request

    from llmos._internal.console.server import Address, serve

    assert isinstance(address, Address)
    stop_box: list[asyncio.Event] = []
    loop_box: list[asyncio.AbstractEventLoop] = []
    ready = threading.Event()

    async def main() -> None:
        stop_box.append(asyncio.Event())
        loop_box.append(asyncio.get_running_loop())
        await serve(server, sock, stop_box[0], ready=ready.set)  # type: ignore[arg-type]

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(20):
            raise UsageError("the console did not start within 20 s")
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor()
        )
        with opener.open(address.login_url, timeout=20) as response:
            ok = response.status == 200 and b"Approvals" in response.read()
    finally:
        if loop_box:
            loop_box[0].call_soon_threadsafe(stop_box[0].set)
        thread.join(20)
    if not ok:
        raise UsageError("the console started but its inbox page did not load")
    if as_json:
        print_json({"url": address.url, "ok": True})
    else:
        terminal().print(f"the console serves on {address.url}: ok", markup=False)
