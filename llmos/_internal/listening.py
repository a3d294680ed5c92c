"""A listening socket for llmos's servers (the gateway, the web console)."""

from __future__ import annotations

import errno
import socket

from llmos._internal.errors import UsageError


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A non-blocking socket listening on host:port; UsageError if that cannot be (a port in
    use says so, and how to choose another)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is in use",
                hint="Choose another with --port PORT (0 picks a free one).",
            ) from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock
