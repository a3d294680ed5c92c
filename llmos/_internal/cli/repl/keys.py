"""The keyboard while a goal runs: Ctrl-C interrupts the goal.

The terminal is switched out of its signal-generating mode for the run, so Ctrl-C arrives
as a key llmos reads instead of a SIGINT sent to the whole foreground process group: the
agent's CLI and the commands it runs never see it, and llmos stops them in order (the SDK's
interrupt, then the CLI's exit) and records the run. Other keys typed meanwhile are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
from collections.abc import Callable
from types import TracebackType
from typing import Any

CTRL_C = b"\x03"


class InterruptKeys:
    def __init__(self, on_interrupt: Callable[[], None]) -> None:
        self.on_interrupt = on_interrupt
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        self._watching = False

    def __enter__(self) -> InterruptKeys:
        fd = sys.stdin.fileno()
        if os.isatty(fd):
            self._fd = fd
            self._saved = termios.tcgetattr(fd)
            self.resume()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pause()
        self._fd = None

    def pause(self) -> None:
        """Give the terminal back as it was (to prompt for an approval, or at the end)."""
        if self._fd is None or not self._watching:
            return
        self._watching = False
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self._fd)
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)

    def resume(self) -> None:
        if self._fd is None or self._watching:
            return
        attrs = termios.tcgetattr(self._fd)
        attrs[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)  # lflag
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
        asyncio.get_running_loop().add_reader(self._fd, self._read)
        self._watching = True

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 1024)
        except OSError:
            data = b""
        if CTRL_C in data:
            self.on_interrupt()
