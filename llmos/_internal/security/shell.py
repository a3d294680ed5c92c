"""Static analysis of a bash command line: what would run, with which arguments, fed by what.

`analyze` parses a command with bashlex and lists every simple command it would run: inside
pipelines, lists, subshells, ``$()``, backticks, process substitutions, here-documents fed to a
shell, nested ``bash -c`` / ``eval`` / interpreter one-liners (re-parsed, depth-limited), and
behind wrappers (``sudo``, ``env``, ``timeout``, ``xargs``, ``parallel``, ``find -exec``, ...).
Words are expanded as far as they can be known without running anything (quotes, ``$'..'``,
``~``, variables set earlier in the command, ``$(echo ..)``, brace expansion); what is only known
at run time is marked with `UNKNOWN`. Nothing is executed. Deciding what is allowed is the job of
`llmos._internal.security.policy`.

The work is split by stage: `shell_prepass` (what bashlex cannot parse, rewritten),
`shell_words` (word expansion), `shell_walker` (the tree), `shell_runners` (wrappers and
commands that run other code), `shell_code` and `shell_python` (interpreter one-liners).
`fragments` cuts a command that cannot be parsed into the pieces between its operators, so that
the policy can still find a plainly dangerous command inside it.
"""

from __future__ import annotations

from llmos._internal.security.run_files import FileView, RunFiles
from llmos._internal.security.shell_runners import Analyzer
from llmos._internal.security.shell_tables import NETWORK_TOOLS, SHELLS
from llmos._internal.security.shell_types import (
    UNKNOWN,
    Analysis,
    Arg,
    Command,
    Finding,
    Redirect,
    ShellAnalysisError,
    Source,
    State,
    initial_env,
)

__all__ = [
    "NETWORK_TOOLS",
    "SHELLS",
    "UNKNOWN",
    "Analysis",
    "Arg",
    "Command",
    "Finding",
    "Redirect",
    "ShellAnalysisError",
    "Source",
    "analyze",
    "fragments",
]

MAX_LENGTH = 20_000
_OPERATORS = set(";&()\n`")  # and `||`; a single `|` stays: a pipeline is judged whole
_RESERVED = frozenset("do done then else elif fi if while until esac in { } ! time".split())


def analyze(
    command: str, *, cwd: str, home: str, max_depth: int = 8, files: RunFiles | None = None
) -> Analysis:
    """Analyse `command` as run by bash in `cwd`. Raises `ShellAnalysisError` if it cannot.

    `files`: what earlier steps of the run wrote, for the scripts this command runs; the
    files this command writes are in the result's `written`."""
    if len(command) > MAX_LENGTH:
        raise ShellAnalysisError(f"command longer than {MAX_LENGTH} characters")
    analyzer = Analyzer(home, max_depth)
    view = FileView(files)
    state = State(cwd, initial_env(home), {}, set(), files=view)
    analyzer.run(command, state, 0, None)
    analyzer.finish()
    analyzer.result.written = view.written
    return analyzer.result


def fragments(command: str, limit: int = 64) -> list[str]:
    """The pieces of `command` between shell operators (``;``, ``&``, ``|``, parentheses,
    newlines, backticks) outside quotes: each may be a simple command on its own. For
    commands `analyze` cannot parse; the pieces are only ever judged, never trusted."""
    pieces: list[str] = []
    current: list[str] = []
    quote, i = "", 0
    while i < len(command) and len(pieces) < limit:
        c = command[i]
        if c == "\\" and quote != "'":
            current.append(command[i : i + 2])
            i += 2
            continue
        if quote:
            quote = "" if c == quote else quote
            current.append(c)
        elif c in "'\"":
            quote = c
            current.append(c)
        elif c in _OPERATORS or command.startswith(("$(", "||"), i):
            pieces.append("".join(current))
            current = []
            i += 2 if c == "$" or command.startswith("||", i) else 1
            continue
        else:
            current.append(c)
        i += 1
    pieces.append("".join(current))
    return [piece for piece in map(_command_part, pieces) if piece]


def _command_part(piece: str) -> str:
    """`piece` without the reserved words before its command (``do rm x`` -> ``rm x``)."""
    words = piece.split()
    while words and words[0] in _RESERVED:
        words.pop(0)
    return " ".join(words) if words != piece.split() else piece.strip()
