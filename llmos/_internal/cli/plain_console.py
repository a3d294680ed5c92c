"""What `llmos run` prints to when its output is not a terminal (a pipe, a file): the text
rich would write there, without loading rich.

Not on a terminal, rich writes no styles: a line of console markup comes out as its text,
the tags gone and the escaped brackets restored. That is all a run's output needs, and
loading rich would cost a replay more time (about 30 ms) than the rest of its output. A test
holds this console to rich's, line for line (tests/test_plain_console.py).
"""

from __future__ import annotations

import sys
from typing import IO, Protocol

from llmos._internal.text import MARKUP_TAG

_TAB_SIZE = 8  # rich expands a printed tab to the next multiple of 8 columns


class Printer(Protocol):
    """What run output is printed to: a rich `Console` on a terminal, else `PlainConsole`."""

    @property
    def file(self) -> IO[str]: ...

    @property
    def is_terminal(self) -> bool: ...

    def print(self, *objects: object, markup: bool | None = None) -> None: ...


class PlainConsole:
    """Prints console markup as plain text, as rich's console does when not on a terminal
    (with `highlight=False`, `emoji=False` and `soft_wrap=True`: `cli/terminal.py`)."""

    is_terminal = False

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr

    @property
    def file(self) -> IO[str]:
        return sys.stderr if self.stderr else sys.stdout  # as it is now: tests swap them

    def print(self, *objects: object, markup: bool | None = None) -> None:
        """Like `Console.print`: the objects' text, separated by spaces, then a newline."""
        line = " ".join(
            _plain(o) if markup is not False and isinstance(o, str) else str(o) for o in objects
        )
        if "\t" in line:
            line = "\n".join(part.expandtabs(_TAB_SIZE) for part in line.split("\n"))
        self.file.write(line + "\n")
        self.file.flush()


def _plain(markup: str) -> str:
    """Console markup's text, as rich reads it: tags dropped; before a tag, `\\[` is the
    bracket and `\\\\` a backslash; elsewhere `\\[` is a bracket too."""
    if "[" not in markup:
        return markup
    parts: list[str] = []
    position = 0
    for match in MARKUP_TAG.finditer(markup):
        backslashes, tag = match.groups()
        parts.append(markup[position : match.start()])
        position = match.end()
        literal, escaped = divmod(len(backslashes), 2)
        parts.append("\\" * literal)
        if escaped:
            parts.append(tag)
    parts.append(markup[position:])
    return "".join(part.replace("\\[", "[") for part in parts)
