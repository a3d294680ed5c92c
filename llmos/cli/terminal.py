"""The console llmos prints to."""

from __future__ import annotations

from rich.console import Console


def terminal(*, stderr: bool = False) -> Console:
    """A console for llmos's output: numbers and paths are not highlighted at random, and
    text prints as it is (a `:name:` in a goal or a file name is not turned into an emoji)."""
    return Console(stderr=stderr, highlight=False, emoji=False)
