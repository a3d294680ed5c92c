"""What the shell analysis produces (`Command`, `Finding`, `Analysis`) and the state it keeps
while reading a command (`State`, `Call`). Plain data: no parsing here.

Every `llmos run` imports this module, so its classes are cheap to create: the values are
NamedTuples (on Python 3.11 a frozen dataclass costs several times as much; equality and
hashing are the same, by value) and the working state plain classes. There is no ``from
__future__ import annotations``: NamedTuple compiles each field's annotation when it is a string.
"""

import os
import tempfile
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from llmos._internal.security.run_files import FileView

UNKNOWN = "\x00"
"""Marks, inside an expanded word, text that is only known at run time."""

SourceKind = Literal[
    "text", "file", "paths", "processes", "endless", "network", "decoded", "unknown"
]
SEVERITY = {
    "text": 0,
    "file": 1,
    "paths": 1,
    "processes": 1,
    "endless": 1,
    "unknown": 2,
    "decoded": 3,
    "network": 4,
}
Origin = Literal["", "written", "disk"]
"""Where the text of a script a command runs came from: "" (the command line itself),
"written" (a file written earlier in this command or this run), "disk" (a file that was
already there)."""


class ShellAnalysisError(Exception):
    """The command cannot be analysed: bad or unsupported syntax, or nested too deeply."""


class Source(NamedTuple):
    """Where a stream of text (standard input, a ``<(..)`` file, a substitution) comes from.

    ``text``: literal text (``echo``, here-documents); ``file``: a file's content; ``paths``: names
    under the roots given by ``find``; ``processes``: the ids of every process (``ps -e``),
    unfiltered; ``endless``: output without end (``yes``, ``cat /dev/zero``, an endless loop);
    ``network``: a download; ``decoded``: output of a decoder (base64, xxd -r, ...);
    ``unknown``: the output of some other command.
    """

    kind: SourceKind
    text: str = ""  # the text, the file's path, or the newline-separated roots


class Arg(NamedTuple):
    """One expanded argument."""

    text: str
    taint: frozenset[str] = frozenset()  # "network" / "decoded" when built from such output
    variables: frozenset[str] = frozenset()  # variables expanded into it
    source: Source | None = None  # for a process substitution: what the pseudo-file holds


class Redirect(NamedTuple):
    op: str  # ">", ">>", "&>", "<", "<>", ...
    target: str
    fd: int | None = None  # the redirected descriptor when given (2 in 2>file)

    @property
    def writes(self) -> bool:
        return ">" in self.op

    @property
    def stdout(self) -> bool:
        return self.writes and (self.fd in (None, 1) or self.op.startswith("&"))


class Command(NamedTuple):
    """A simple command as it would run, after unwrapping wrappers."""

    name: str  # program name (basename); "" for bare assignments/redirections
    argv: tuple[Arg, ...]  # arguments after the program name
    cwd: str
    program: str = ""  # argv[0] as expanded (may be a path)
    redirects: tuple[Redirect, ...] = ()
    assignments: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ()  # wrappers and nesting it was found behind
    stdin: Source | None = None
    code: tuple[tuple[str, str], ...] = ()  # (language, program text) of interpreter one-liners
    text: str = ""  # the simple command as written in the source (wrappers included)
    outer: tuple[str, ...] = ()  # the commands whose code this is (`eval ...`, `bash -c ...`)
    links: tuple[tuple[str, str], ...] = ()  # symlinks made earlier in the command: link, target
    script: str = ""  # the file this command was read from, when a script runs it
    origin: Origin = ""  # where that file's text came from (see `Origin`)
    remote: str = ""  # the other machine or container it runs on (ssh host, docker run...)

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(a.text for a in self.argv)

    @property
    def line(self) -> str:
        """The command as it would run: program and expanded arguments, run-time parts as `$?`."""
        words = (self.name or self.program, *self.args)
        return " ".join(w.replace(UNKNOWN, "$?") for w in words if w)

    @property
    def variables(self) -> frozenset[str]:
        return frozenset().union(*(a.variables for a in self.argv))


class Finding(NamedTuple):
    """A problem seen in the structure of the command rather than in one command's arguments."""

    rule: str  # "pipe-to-shell", "obfuscated-exec", "fork-bomb", "unreadable-script"...
    detail: str
    text: str = ""  # for "unreadable-script": the script's text, judged piece by piece
    origin: Origin = ""
    script: str = ""  # the file it was seen in, when a script the command runs holds it


class Analysis:
    def __init__(self) -> None:
        self.events: list[Command | Finding] = []  # in the order they were seen
        self.written: dict[str, str | None] = {}  # files the command writes: path -> text

    @property
    def commands(self) -> list[Command]:
        return [e for e in self.events if isinstance(e, Command)]

    @property
    def findings(self) -> list[Finding]:
        return [e for e in self.events if isinstance(e, Finding)]


def resolve_path(text: str, cwd: str) -> str:
    """Absolute path of `text` seen from `cwd`, with `..` and symlinks resolved."""
    return os.path.realpath(os.path.join(cwd, text))


class Val(NamedTuple):
    text: str
    taint: frozenset[str] = frozenset()


def initial_env(home: str) -> dict[str, Val]:
    tmp = os.environ.get("TMPDIR") or tempfile.gettempdir()
    return {
        "HOME": Val(home),
        "USER": Val(os.path.basename(home)),
        "LOGNAME": Val(os.path.basename(home)),
        "TMPDIR": Val(tmp.rstrip("/") or "/"),
        "IFS": Val(" \t\n"),
        "SHELL": Val("/bin/bash"),
    }


class Function(NamedTuple):
    """A shell function: its body, walked again at each call with the call's arguments."""

    body: Any  # the bashlex node
    unit: Any  # the Prepared text it was parsed from


class State:
    """What the shell knows at one point of a command line. `fork` gives a subshell its own
    copy of variables, functions and aliases; what lands on disk (downloads, symlinks, files
    written) is shared by every fork."""

    def __init__(
        self,
        cwd: str,
        env: dict[str, Val],
        functions: dict[str, Function],
        downloads: set[str],
        via: tuple[str, ...] = (),
        outer: tuple[str, ...] = (),
        *,
        files: "FileView | None" = None,
        links: dict[str, str] | None = None,
        aliases: dict[str, str] | None = None,
        refs: dict[str, str] | None = None,
        script: str = "",
        origin: Origin = "",
        scripts: frozenset[str] = frozenset(),
        remote: str = "",
    ) -> None:
        self.cwd = cwd
        self.env = env
        self.functions = functions
        self.downloads = downloads  # shared by forks: a download in a subshell still lands on disk
        self.via = via  # the wrappers and nested shells the code being read runs in
        self.outer = outer  # the texts of the commands that run this code (eval, -c...)
        self.files = files  # the files the command sees (shared)
        self.links = links if links is not None else {}  # symlinks made (shared): path -> target
        self.aliases = aliases if aliases is not None else {}
        self.refs = refs if refs is not None else {}  # namerefs (declare -n): name -> variable
        self.script = script  # the script file being read, and where its text came from
        self.origin = origin
        self.scripts = scripts  # the script files being read, outermost first (no recursion)
        self.remote = remote  # the machine or container the code runs on, when not this one

    def fork(self, via: str | None = None, *, outer: str | None = None) -> "State":
        """A subshell (or a new shell process): its own copy of what the shell knows."""
        nested = (*self.via, via) if via else self.via
        around = (*self.outer, outer) if outer else self.outer
        return State(
            self.cwd,
            dict(self.env),
            dict(self.functions),
            self.downloads,
            nested,
            around,
            files=self.files,
            links=self.links,
            aliases=dict(self.aliases),
            refs=dict(self.refs),
            script=self.script,
            origin=self.origin,
            scripts=self.scripts,
            remote=self.remote,
        )

    def inside(self, via: str, *, outer: str) -> "State":
        """The same shell reading more code (``eval``, ``source``, a function's body): what
        that code sets stays set, but its commands are seen behind `via`."""
        state = State(
            self.cwd,
            self.env,
            self.functions,
            self.downloads,
            (*self.via, via),
            (*self.outer, outer),
            files=self.files,
            links=self.links,
            aliases=self.aliases,
            refs=self.refs,
            script=self.script,
            origin=self.origin,
            scripts=self.scripts,
            remote=self.remote,
        )
        return state

    def variable(self, name: str) -> str:
        """The variable a name stands for, through namerefs (``declare -n ref=VAR``)."""
        for _ in range(8):
            target = self.refs.get(name)
            if target is None:
                return name
            name = target
        return name


class Call:
    """A simple command being unwrapped."""

    def __init__(
        self,
        argv: list[Arg],
        state: State,
        depth: int,
        stdin: Source | None,
        redirects: list[Redirect],
        assignments: list[tuple[str, str]],
        via: tuple[str, ...] = (),
    ) -> None:
        self.argv = argv
        self.state = state
        self.depth = depth
        self.stdin = stdin
        self.redirects = redirects
        self.assignments = assignments
        self.via = via
        self.code: list[tuple[str, str]] = []  # (language, program text) of one-liners
        self.text = ""  # the simple command as written
