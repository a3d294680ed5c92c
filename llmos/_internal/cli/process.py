"""How the `llmos` process ends, whatever ends it.

- **Signals.** SIGTERM (`kill`, `timeout`, a supervisor) and SIGHUP (the terminal closed)
  are handled like SIGINT: they interrupt what runs in the main thread the way Ctrl-C does
  (a KeyboardInterrupt, or the cancellation `asyncio.run` makes of it), so a Learner run
  interrupts its agent and records its ledger row and sealed session log, a replay stops
  between steps, and the process exits 128 + the signal's number. After SIGHUP nothing is
  printed any more (there is no terminal to print to).
- **Errors.** An `LlmosError` is a message and a hint; a failed write for lack of space or
  on a read-only disk is reported as such (`database.os_state_error`); only bugs show a
  traceback. Log records print as one `warning: ...` line (tracebacks with LLMOS_DEBUG=1).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from types import FrameType

_received: int | None = None
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def received_signal() -> int | None:
    """The SIGTERM or SIGHUP that stopped this process, if one did."""
    return _received


def install_signal_handlers() -> None:
    for sig in _STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them
            signal.signal(sig, _like_sigint)


def stopped_by(signum: int) -> None:
    """Note that `signum` is ending the process (its exit status and message say so); after
    SIGHUP nothing is printed any more. For code that handles the signal itself (the REPL)."""
    global _received
    _received = signum
    if signum == signal.SIGHUP:
        _silence_terminal()


def _like_sigint(signum: int, frame: FrameType | None) -> None:
    first = _received is None
    stopped_by(signum)
    if not first:
        raise KeyboardInterrupt  # asked twice: stop now
    handler = signal.getsignal(signal.SIGINT)
    if handler in (signal.SIG_IGN, signal.SIG_DFL, None):
        # SIGINT is ignored (a background job): interrupt the main thread ourselves.
        raise KeyboardInterrupt
    # Whatever SIGINT does now (Python's KeyboardInterrupt, asyncio.run's cancellation of
    # its task, an event loop's handler) is what this signal does.
    signal.raise_signal(signal.SIGINT)


def _silence_terminal() -> None:
    """The terminal is gone: writing to it would fail (EIO). Output goes nowhere instead."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                if os.isatty(fd):
                    os.dup2(null, fd)
        os.close(null)


class _OneLine(logging.Formatter):
    """`warning: message`, control characters removed; the exception's own line instead of
    its traceback (unless LLMOS_DEBUG is set)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        from llmos._internal.text import clean

        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            if self.debug:
                text += "\n" + self.formatException(record.exc_info)
            else:
                detail = str(record.exc_info[1]) or type(record.exc_info[1]).__name__
                if detail not in text:
                    text += f": {detail}"
        return f"{record.levelname.lower()}: {clean(text, keep_newlines=self.debug)}"


def configure_logging() -> None:
    debug = bool(os.environ.get("LLMOS_DEBUG"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(debug))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def describe_stop(signum: int) -> str:
    name = signal.Signals(signum).name
    return f"llmos: stopped by {name}; what was running was interrupted and recorded"


def state_error_of(exc: BaseException) -> BaseException:
    """The `LlmosError` a user should see for an OSError or a sqlite3 error that reached
    the top, or `exc` itself (a bug: its traceback is shown)."""
    if isinstance(exc, OSError):
        from llmos._internal.database import os_state_error

        return os_state_error(exc)
    if type(exc).__module__ == "sqlite3":
        from llmos._internal.errors import WorkspaceStateError

        return WorkspaceStateError(
            f"a database of the workspace failed: {exc}",
            hint="`llmos doctor` checks the workspace; `llmos doctor --repair` repairs it.",
        )
    return exc
