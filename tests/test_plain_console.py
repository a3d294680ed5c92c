"""`llmos run` prints without rich when its output is not a terminal: the plain console must
write what rich's console writes there, character for character, whatever the values
(brackets, backslashes, tabs, markup look-alikes from a goal or a tool's output)."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections.abc import Callable

import pytest
from rich.console import Console
from rich.markup import escape as rich_escape

from llmos._internal.cli.plain_console import PlainConsole
from llmos._internal.cli.render import LiveRenderer
from llmos._internal.cli.table import print_fields
from llmos._internal.kernel.events import (
    AssistantText,
    Event,
    Notice,
    RunStarted,
    ToolDecision,
    ToolFinished,
    ToolRequested,
)
from llmos._internal.text import escape

# Values as hostile as a goal, a file name or a command's output can be.
AWKWARD = [
    "plain",
    "[bold]not a style[/]",
    "\\[bold]",
    "a \\\\[red]b",
    "ends with a backslash \\",
    "ends with two \\\\",
    "[/]",
    "[#ff0000]hex[/#ff0000]",
    "[@click]x[/]",
    "[link=https://example.com]x[/link]",
    "tab\tin\tit",
    "two\nlines\tand tab",
    "brackets [1, 2] and [] and [A]",
    ":smile: :thumbs_up:",
    "ünïcödé → ✓ 日本",
    "C:\\path\\[x]",
    "",
]
_ALPHABET = ["[", "]", "\\", "/", "a", "b", "#", "@", "=", " ", "\t", ":", "x", "é", "\n"]


def _rich_console(buffer: io.StringIO) -> Console:
    # What `cli/terminal.terminal()` makes when not on a terminal.
    return Console(
        file=buffer, highlight=False, emoji=False, soft_wrap=True, force_terminal=False, width=80
    )


def _both(write: Callable[[Console | PlainConsole], None]) -> tuple[str, str]:
    buffer = io.StringIO()
    write(_rich_console(buffer))
    plain = PlainConsole()
    captured = io.StringIO()
    saved, sys.stdout = sys.stdout, captured
    try:
        write(plain)
    finally:
        sys.stdout = saved
    return buffer.getvalue(), captured.getvalue()


def _random_values(count: int) -> list[str]:
    rng = random.Random(1234)
    return ["".join(rng.choices(_ALPHABET, k=rng.randint(0, 14))) for _ in range(count)]


@pytest.mark.parametrize("value", AWKWARD + _random_values(400))
def test_escape_is_rich_escape(value: str) -> None:
    assert escape(value) == rich_escape(value)


@pytest.mark.parametrize("value", AWKWARD + _random_values(400))
def test_escaped_values_in_markup_print_as_rich_prints_them(value: str) -> None:
    def write(console: Console | PlainConsole) -> None:
        console.print(f"[bold]llmos[/] x [dim]({escape(value)})[/]")
        console.print(f"  [yellow]→ Bash[/] {escape(value)}", f"[red]{escape(value)}[/]")
        console.print(value, markup=False)
        console.print()

    rich_out, plain_out = _both(write)
    assert plain_out == rich_out


def test_a_runs_events_print_as_rich_prints_them() -> None:
    events: list[Event] = []
    for value in AWKWARD:
        events += [
            RunStarted(
                run_id="r",
                goal=value,
                mode="follower",
                project="default",
                workdir=f"/tmp/{value}",
                model=None,
                budget_usd=1.0,
                reason=value,
            ),
            Notice(run_id="r", text=value),
            AssistantText(run_id="r", text=value),
            ToolRequested(run_id="r", tool_use_id="t", tool="Bash", input={"command": value}),
            ToolDecision(
                run_id="r",
                tool_use_id="t",
                tool="Bash",
                allowed=False,
                guard="policy",
                rule=value,
                reason=value,
            ),
            ToolFinished(run_id="r", tool_use_id="t", tool="Write", ok=True, summary=value),
            ToolFinished(run_id="r", tool_use_id="t", tool="Bash", ok=False, summary=value),
        ]

    def write(console: Console | PlainConsole) -> None:
        renderer = LiveRenderer(console)
        for event in events:
            renderer(event)
        print_fields([(value or "empty", value) for value in AWKWARD], console=console)

    rich_out, plain_out = _both(write)
    assert plain_out == rich_out
    assert "[bold]not a style[/]" in plain_out  # a value's markup is shown, not applied


def test_llmos_run_into_a_pipe_loads_no_rich() -> None:
    code = (
        "import sys\n"
        "from llmos._internal.cli.terminal import printer\n"
        "from llmos._internal.cli.render import LiveRenderer, print_summary\n"
        "console = printer()\n"
        "console.print('[bold]x[/]')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out == "x\n[]\n"
    forced = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "FORCE_COLOR": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "rich.console" in forced  # FORCE_COLOR: a terminal, as rich decides it
