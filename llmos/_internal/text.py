"""Text from outside (goals, traces, logs, model output) made safe to show on a terminal;
and the small text helpers every layer uses (a goal's words for search, one line of it).

A goal or a trace can carry terminal escape sequences: printed raw they could move the
cursor, rewrite what the screen shows, set the window title or hide text. `clean` removes
escape sequences and control characters (keeping newlines and tabs where asked), and the
Unicode controls that reorder text on screen (bidirectional overrides).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC strings,
# and two-character escapes; then the C1 forms of CSI and OSC.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"
)
# C0 controls but tab and newline, DEL, C1 controls, and bidirectional formatting characters.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, *, keep_newlines: bool = True) -> str:
    """`text` without escape sequences and control characters. With `keep_newlines=False`
    newlines and tabs become spaces too (for one-line cells: a table row, a log line)."""
    if not text:
        return text
    text = _ESCAPES.sub("", text)
    if keep_newlines:
        return _CONTROLS.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS_ONE_LINE.sub(" ", text)


def safe_text(value: object, *, style: str = "", one_line: bool = False) -> Text:
    """A rich `Text` of an untrusted value: cleaned, and never read as markup."""
    from rich.text import Text

    return Text(clean(str(value), keep_newlines=not one_line), style=style)


# What rich reads as a markup tag: `[` then a letter, `#`, `/` or `@`, up to the next `]`,
# and the backslashes before it (rich's console markup grammar).
MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(value: object) -> str:
    """An untrusted value inside rich markup: cleaned, and its square brackets escaped so
    that it is never read as markup (as `rich.markup.escape` does it, without loading rich:
    a replay prints without it, `llmos/_internal/cli/plain_console.py`)."""
    text = MARKUP_TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", clean(str(value)))
    if text.endswith("\\") and not text.endswith("\\\\"):
        return text + "\\"
    return text


def capped(value: Any, limit: int) -> Any:
    """`value` (JSON-like data) with every string longer than `limit` cut to it and marked:
    what a log or an audit row keeps of a tool call whose input can be a hundred megabytes
    (the trace keeps it whole)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:limit]}… [{len(value) - limit} more characters]"
    if isinstance(value, dict):
        return {k: capped(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [capped(v, limit) for v in value]
    return value


_PUNCTUATION = re.compile(r"[^\w\s]")


def normalize_goal(goal: str) -> str:
    """A goal's words for searching (full-text search, memory recall): case, whitespace and
    punctuation folded. Never used to decide that two goals are the same: that is the
    canonical form's job (llmos/_internal/memory/goal_form.py)."""
    text = unicodedata.normalize("NFKC", goal).casefold()
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def one_line(text: str, limit: int = 160) -> str:
    """Collapse whitespace (newlines included) and cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
