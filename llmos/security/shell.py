"""Static analysis of a bash command line: what would run, with which arguments, fed by what.

`analyze` parses a command with bashlex and lists every simple command it would run: inside
pipelines, lists, subshells, ``$()``, backticks, process substitutions, here-documents fed to a
shell, nested ``bash -c`` / ``eval`` / interpreter one-liners (re-parsed, depth-limited), and
behind wrappers (``sudo``, ``env``, ``timeout``, ``xargs``, ``parallel``, ``find -exec``, ...).
Words are expanded as far as they can be known without running anything (quotes, ``$'..'``,
``~``, variables set earlier in the command, ``$(echo ..)``, brace expansion); what is only known
at run time is marked with `UNKNOWN`. Nothing is executed. Deciding what is allowed is the job of
`llmos.security.policy`.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import bashlex

__all__ = [
    "UNKNOWN",
    "Analysis",
    "Arg",
    "Command",
    "Finding",
    "Redirect",
    "ShellAnalysisError",
    "Source",
    "analyze",
]

UNKNOWN = "\x00"
"""Marks, inside an expanded word, text that is only known at run time."""

SourceKind = Literal["text", "file", "paths", "network", "decoded", "unknown"]
_SEVERITY = {"text": 0, "file": 1, "paths": 1, "unknown": 2, "decoded": 3, "network": 4}


class ShellAnalysisError(Exception):
    """The command cannot be analysed: bad or unsupported syntax, or nested too deeply."""


@dataclass(frozen=True)
class Source:
    """Where a stream of text (standard input, a ``<(..)`` file, a substitution) comes from.

    ``text``: literal text (``echo``, here-documents); ``file``: a file's content; ``paths``: names
    under the roots given by ``find``; ``network``: a download; ``decoded``: output of a decoder
    (base64, xxd -r, ...); ``unknown``: the output of some other command.
    """

    kind: SourceKind
    text: str = ""  # the text, the file's path, or the newline-separated roots


@dataclass(frozen=True)
class Arg:
    """One expanded argument."""

    text: str
    taint: frozenset[str] = frozenset()  # "network" / "decoded" when built from such output
    variables: frozenset[str] = frozenset()  # variables expanded into it
    source: Source | None = None  # for a process substitution: what the pseudo-file holds


@dataclass(frozen=True)
class Redirect:
    op: str  # ">", ">>", "&>", "<", "<>", ...
    target: str
    fd: int | None = None  # the redirected descriptor when given (2 in 2>file)

    @property
    def writes(self) -> bool:
        return ">" in self.op

    @property
    def stdout(self) -> bool:
        return self.writes and (self.fd in (None, 1) or self.op.startswith("&"))


@dataclass(frozen=True)
class Command:
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

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(a.text for a in self.argv)

    @property
    def variables(self) -> frozenset[str]:
        return frozenset().union(*(a.variables for a in self.argv))


@dataclass(frozen=True)
class Finding:
    """A problem seen in the structure of the command rather than in one command's arguments."""

    rule: str  # "pipe-to-shell", "obfuscated-exec", "fork-bomb"
    detail: str


@dataclass
class Analysis:
    events: list[Command | Finding] = field(default_factory=list)  # in the order they were seen

    @property
    def commands(self) -> list[Command]:
        return [e for e in self.events if isinstance(e, Command)]

    @property
    def findings(self) -> list[Finding]:
        return [e for e in self.events if isinstance(e, Finding)]


def _resolve(text: str, cwd: str) -> str:
    """Absolute path of `text` seen from `cwd`, with `..` and symlinks resolved."""
    return os.path.realpath(os.path.join(cwd, text))


MAX_LENGTH = 20_000


def analyze(command: str, *, cwd: str, home: str, max_depth: int = 8) -> Analysis:
    """Analyse `command` as run by bash in `cwd`. Raises `ShellAnalysisError` if it cannot."""
    if len(command) > MAX_LENGTH:
        raise ShellAnalysisError(f"command longer than {MAX_LENGTH} characters")
    analyzer = _Analyzer(home, max_depth)
    state = _State(cwd=cwd, env=_initial_env(home), functions=set(), downloads=set())
    analyzer.run(command, state, 0, None)
    return analyzer.result


# --------------------------------------------------------------------------- command tables


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = _words("sh bash zsh dash ksh mksh ash fish csh tcsh rbash yash posh busybox-sh")
NETWORK_TOOLS = _words(
    "curl wget fetch aria2c http https xh lwp-request GET POST nc ncat netcat socat "
    "telnet openssl ssh"
)
_DECODE_FLAGS = {"base64": ("-d", "--decode", "-D"), "base32": ("-d", "--decode")}
_ALWAYS_DECODERS = _words(
    "uudecode gunzip zcat gzcat bzcat xzcat zstdcat unxz bunzip2 unzstd rev tr"
)
_INTERPRETER = re.compile(
    r"^(python[0-9.]*|pypy[0-9]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|bun|deno|php[0-9.]*|lua[0-9.]*"
    r"|luajit|Rscript|osascript|pwsh|powershell|awk|gawk|mawk|nawk|vim|vi|nvim|ex|view|tclsh)$"
)
# Commands that run the command after their own options (and `skip` operands, such as the
# duration of timeout): name, skip, options that take a value.
_WRAPPER_TABLE = """
sudo 0 -u -g -h -p -C -D -r -t -U -T --user --group --host --prompt --chdir --role --type
doas 0 -u -C
nice 0 -n --adjustment
ionice 0 -c -n --class --classdata
timeout 1 -s -k --signal --kill-after
stdbuf 0 -i -o -e --input --output --error
time 0 -f -o --format --output
exec 0 -a
chroot 1 --userspec --groups
flock 1 -w -E --timeout --conflict-exit-code
caffeinate 0 -t -w
proxychains 0 -f
proxychains4 0 -f
runuser 0 -u -g -G --user --group
strace 0 -o -e -p -s -u -E -P -a -b -I -X -O -S
ltrace 0 -o -e -p -s -u -E -a -n
xvfb-run 0 -n -s -f -e -p
screen 0 -S -c -p -T -h -t -e -L -Logfile
nohup 0
setsid 0
unbuffer 0
command 0
builtin 0
torsocks 0
chronic 0
catchsegv 0
fakeroot 0
firejail 0
"""
_WRAPPERS = {
    name: (int(skip), frozenset(opts))
    for name, skip, *opts in (line.split() for line in _WRAPPER_TABLE.strip().splitlines())
}
_XARGS_VALUE = _words(
    "-I -d -E -e -L -l -n -P -s -a --arg-file --delimiter --max-args --max-procs "
    "--max-lines --replace --eof --max-chars --process-slot-var"
)
_PARALLEL_VALUE = _words(
    "-j --jobs -S --sshlogin --joblog --results --delay --timeout --halt -a --arg-file "
    "--colsep -d --delimiter -n --max-args -N -L -P --tmpdir --workdir --env -E --retries "
    "--memfree"
)
_MAX_ITEMS = 16
_TMUX_RUNS = _words("new new-session new-window neww split-window splitw respawn-pane run-shell")

# Calls that run their string (or list) argument as a shell command, per language family.
_SHELL_SINKS = {
    "python": r"system|popen|subprocess\.\w+|getoutput|getstatusoutput|pty\.spawn|exec[lv]p?e?",
    "perl": r"system|exec|qx",
    "ruby": r"system|exec|spawn|IO\.popen|Open3\.\w+|Kernel\.system|Kernel\.exec",
    "node": r"exec|execSync|execFile|execFileSync|spawn|spawnSync",
    "php": r"system|exec|shell_exec|passthru|popen|proc_open",
    "lua": r"os\.execute|io\.popen",
    "awk": r"system",
    "r": r"system|system2",
    "osascript": r"do shell script",
    "vim": r"system|systemlist",
}
_STRING = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
_LITERAL = "(?:" + _STRING[1:-1] + ")"  # a string literal, without a capturing group
_LIST = r"(\[\s*" + _LITERAL + r"(?:\s*,\s*" + _LITERAL + r")*\s*,?\s*\])"
_DELETE_CALL = re.compile(
    r"(?:shutil\.rmtree|os\.(?:remove|unlink|rmdir|removedirs)|FileUtils\.(?:rm\w*|remove\w*)"
    r"|File\.(?:delete|unlink)"
    r"|Dir\.(?:delete|rmdir|unlink)|\.(?:rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink)"
    r"|rimraf(?:\.sync)?|remove_tree|rmtree|unlink|rmdir|file\.remove)\s*\(\s*" + _STRING
)
_PATH_DELETE = re.compile(r"Path\(\s*" + _STRING + r"\s*\)\.(?:unlink|rmdir|rmtree)")
_WRITE_CALL = re.compile(
    r"(?:\bopen\s*\(\s*" + _STRING + r"\s*,\s*['\"][^'\"]*[wax+]"
    r"|(?:File\.write|IO\.write|\.(?:writeFileSync|appendFileSync|writeFile|appendFile)"
    r"|file_put_contents|\.write_text|\.write_bytes)\s*\(\s*" + _STRING + r")"
)
_ARGS = _STRING + r"(?:\s*[,+]\s*" + _STRING + r")*"
_BACKTICK_CODE = re.compile(r"`([^`]+)`|\bqx\s*[{(]([^})]*)[})]|%x[{(]([^})]*)[})]")
_AWK_PIPE = re.compile(r"\|\s*" + _STRING + r"|" + _STRING + r"\s*\|\s*getline")


def _initial_env(home: str) -> dict[str, _Val]:
    tmp = os.environ.get("TMPDIR") or tempfile.gettempdir()
    return {
        "HOME": _Val(home),
        "USER": _Val(os.path.basename(home)),
        "LOGNAME": _Val(os.path.basename(home)),
        "TMPDIR": _Val(tmp.rstrip("/") or "/"),
        "IFS": _Val(" \t\n"),
        "SHELL": _Val("/bin/bash"),
    }


@dataclass(frozen=True)
class _Val:
    text: str
    taint: frozenset[str] = frozenset()


@dataclass
class _State:
    cwd: str
    env: dict[str, _Val]
    functions: set[str]
    downloads: set[str]  # shared by forks: a download in a subshell still lands on disk
    via: tuple[str, ...] = ()  # the wrappers and nested shells the code being read runs in

    def fork(self, via: str | None = None) -> _State:
        nested = (*self.via, via) if via else self.via
        return _State(self.cwd, dict(self.env), set(self.functions), self.downloads, nested)


@dataclass
class _Call:
    """A simple command being unwrapped."""

    argv: list[Arg]
    state: _State
    depth: int
    stdin: Source | None
    redirects: list[Redirect]
    assignments: list[tuple[str, str]]
    via: tuple[str, ...] = ()
    code: list[tuple[str, str]] = field(default_factory=list)


# ------------------------------------------------------------------------------- pre-pass


class _Prepared:
    """Rewrites what bashlex cannot parse into equivalents it can, and drops comments.

    ``$((..))`` / ``$[..]`` become ``$(__llmos_arith__ "..")`` (the inner substitutions stay
    visible), the ``time`` keyword is blanked, ``[[``/``]]`` become ``[``/``]`` and quoted
    here-document delimiters are unquoted (their offsets are kept: such bodies are literal).
    """

    _RESERVED = _words("then do else elif if while until ! { ( time")

    def __init__(self, text: str) -> None:
        self.src = text
        self.out: list[str] = []
        self.quoted_heredocs: set[int] = set()
        self.pending: list[tuple[str, bool]] = []
        self.i = 0
        self._top(None)
        self.text = "".join(self.out)

    def _emit(self, s: str) -> None:
        self.out.append(s)

    def _top(self, stop: str | None) -> None:
        src, n = self.src, len(self.src)
        depth = 0
        cmd_start = True
        while self.i < n:
            i, c = self.i, src[self.i]
            boundary = i == 0 or src[i - 1] in " \t\n;&|(){}!"
            word_start = i == 0 or src[i - 1] in " \t\n;&|("
            if c == stop and depth == 0:
                self._emit(c)
                self.i += 1
                return
            if word_start and c == "#":
                end = src.find("\n", i)
                self.i = n if end < 0 else end
                continue
            if boundary and cmd_start:
                m = re.match(r"(time(?:\s+-p)?|\[\[)(?=[ \t])", src[i:])
                if m:
                    self._emit(" " * len(m.group(1)) if m.group(1) != "[[" else "[ ")
                    self.i += len(m.group(1))
                    continue
                m = re.match(r"[^\s;&|()<>'\"`$\\]+", src[i:])
                if m:
                    word = m.group(0)
                    self._emit(word)
                    self.i += len(word)
                    cmd_start = word in self._RESERVED
                    continue
            if c == "]" and src.startswith("]]", i) and boundary and self._ends_word(i + 2):
                self._emit(" ]")
                self.i += 2
                continue
            if c in ";&|(){}\n!":
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                self._emit(c)
                self.i += 1
                cmd_start = True
                if c == "\n" and self.pending:
                    self._heredoc_bodies()
                continue
            if c in " \t":
                self._emit(c)
                self.i += 1
                continue
            cmd_start = False
            if src.startswith("<<<", i):
                self._emit("<<<")
                self.i += 3
            elif src.startswith("<<", i):
                self._heredoc_operator()
            else:
                self._common(c, in_dq=False)

    def _ends_word(self, j: int) -> bool:
        return j >= len(self.src) or self.src[j] in " \t\n;&|)"

    def _common(self, c: str, *, in_dq: bool) -> None:
        """Quotes, escapes and expansions, shared by the top level and double quotes."""
        src, i = self.src, self.i
        if c == "\\":
            self._emit(src[i : i + 2])
            self.i += 2
        elif c == "'" and not in_dq:
            end = src.find("'", i + 1)
            end = len(src) - 1 if end < 0 else end
            self._emit(src[i : end + 1])
            self.i = end + 1
        elif c == '"':
            self._emit(c)
            self.i += 1
            self._dq()
        elif c == "`":
            end = i + 1
            while end < len(src) and src[end] != "`":
                end += 2 if src[end] == "\\" else 1
            self._emit(src[i : end + 1])
            self.i = end + 1
        elif c == "$" and src.startswith("$'", i) and not in_dq:
            end = i + 2
            while end < len(src) and src[end] != "'":
                end += 2 if src[end] == "\\" else 1
            self._emit(src[i : end + 1])
            self.i = end + 1
        elif c == "$" and (src.startswith("$((", i) or src.startswith("$[", i)):
            self._arithmetic()
        elif c == "$" and src.startswith("$(", i):
            self._emit("$(")
            self.i += 2
            self._top(")")
        elif c == "$" and src.startswith("${", i):
            end = _find_close(src, i + 1, "{", "}")
            self._emit(src[i:end])
            self.i = end
        else:
            self._emit(c)
            self.i += 1

    def _dq(self) -> None:
        while self.i < len(self.src):
            c = self.src[self.i]
            if c == '"':
                self._emit(c)
                self.i += 1
                return
            self._common(c, in_dq=True)

    def _arithmetic(self) -> None:
        src, i = self.src, self.i
        opener, closer = ("$((", "))") if src.startswith("$((", i) else ("$[", "]")
        j, depth = i + len(opener), 0
        while j < len(src):
            if src[j] in "([":
                depth += 1
            elif src[j] in ")]":
                if depth == 0 and src.startswith(closer, j):
                    break
                depth -= 1
            j += 1
        inner = _Prepared(src[i + len(opener) : j]).text.replace('"', " ")
        self._emit(f'$(__llmos_arith__ "{inner}")')
        self.i = j + len(closer)

    def _heredoc_operator(self) -> None:
        src = self.src
        m = re.match(r"<<(-?)([ \t]*)((?:'[^']*'|\"[^\"]*\"|\\?[^\s;&|<>()])+)", src[self.i :])
        if not m:
            self._emit("<<")
            self.i += 2
            return
        raw = m.group(3)
        delim = re.sub(r"['\"\\]", "", raw)
        if delim != raw:
            self.quoted_heredocs.add(sum(map(len, self.out)))
        self._emit(f"<<{m.group(1)}{m.group(2)}{delim}")
        self.pending.append((delim, m.group(1) == "-"))
        self.i += m.end()

    def _heredoc_bodies(self) -> None:
        src = self.src
        for delim, strip_tabs in self.pending:
            while self.i < len(src):
                end = src.find("\n", self.i)
                end = len(src) if end < 0 else end
                line = src[self.i : end]
                self._emit(src[self.i : end + 1])
                self.i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break
        self.pending.clear()


# ------------------------------------------------------------------------------ small helpers


def _ansi_c(body: str) -> str:
    """Decode the inside of a ``$'...'`` string."""
    simple = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r"}
    simple |= {"t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            hexa = re.match(f"[0-9a-fA-F]{{1,{width}}}", body[i + 2 :])
            out.append(chr(int(hexa.group(0), 16)) if hexa else "\\" + e)
            i += 2 + (len(hexa.group(0)) if hexa else 0)
        elif e in "01234567":
            octal = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert octal
            out.append(chr(int(octal.group(0), 8) & 0xFF))
            i += 1 + len(octal.group(0))
        elif e == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + e)
            i += 2
    return "".join(out)


def _find_close(text: str, i: int, opener: str = "(", closer: str = ")") -> int:
    """Index just after the `closer` matching the `opener` at `text[i]`."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c in "'\"":
            end = text.find(c, j + 1)
            j = len(text) if end < 0 else end + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise ShellAnalysisError("unbalanced substitution")


def _brace_expand(word: str, limit: int = 64) -> list[str]:
    """Bash brace expansion of the unquoted ``{a,b}`` and ``{1..3}`` parts of a raw word."""
    i, quote = 0, ""
    while i < len(word):
        c = word[i]
        if c == "\\":
            i += 2
            continue
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "{" and (i == 0 or word[i - 1] != "$"):
            alternatives = _brace_body(word, i)
            if alternatives is not None:
                end, alts = alternatives
                out: list[str] = []
                for alt in alts:
                    out.extend(_brace_expand(word[:i] + alt + word[end:], limit))
                    if len(out) > limit:
                        raise ShellAnalysisError("brace expansion too large")
                return out
        i += 1
    return [word]


def _brace_body(word: str, start: int) -> tuple[int, list[str]] | None:
    depth, j, commas, quote = 0, start, [], ""
    while j < len(word):
        c = word[j]
        if c == "\\":
            j += 2
            continue
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            commas.append(j)
        j += 1
    else:
        return None
    if commas:
        cuts = [start, *commas, j]
        return j + 1, [word[a + 1 : b] for a, b in itertools.pairwise(cuts)]
    m = re.fullmatch(r"(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])", word[start + 1 : j])
    if not m:
        return None
    a, b = m.groups()
    if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        lo, hi = int(a), int(b)
        step = 1 if hi >= lo else -1
        if abs(hi - lo) > 64:
            raise ShellAnalysisError("brace expansion too large")
        return j + 1, [str(k) for k in range(lo, hi + step, step)]
    if a.isalpha() and b.isalpha():
        step = 1 if ord(b) >= ord(a) else -1
        return j + 1, [chr(k) for k in range(ord(a), ord(b) + step, step)]
    return None


def _printf(args: list[str]) -> str:
    """What printf prints: the format is reused while arguments remain, as in bash."""
    if not args:
        return ""
    fmt, values = args[0], args[1:]
    pieces = re.split(r"(%[-+ #0-9.]*[sbdciouxXfeEgG%])", fmt)
    directives = sum(1 for p in pieces if re.fullmatch(r"%[-+ #0-9.]*[sbdciouxXfeEgG]", p))
    out, k = [], 0
    while True:
        for p in pieces:
            if re.fullmatch(r"%[-+ #0-9.]*[sbdciouxXfeEgG]", p):
                v = values[k] if k < len(values) else ""
                k += 1
                out.append(_ansi_c(v) if p.endswith("b") else v)
            else:
                out.append("%" if p == "%%" else _ansi_c(p))
        if not directives or k >= len(values):
            return "".join(out)


def _echo(args: list[str]) -> str:
    escapes, newline = False, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = "e" in flags or (escapes and "E" not in flags)
    text = " ".join(args)
    return (_ansi_c(text) if escapes else text) + ("\n" if newline else "")


def _skip_options(args: list[Arg], value_opts: frozenset[str], skip: int = 0) -> int:
    """Index of the wrapped command in `args`, after the wrapper's options and `skip` operands."""
    i = 0
    while i < len(args):
        a = args[i].text
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        cluster_value = re.fullmatch(r"-[A-Za-z]+", a) is not None and "-" + a[-1] in value_opts
        i += 2 if a in value_opts or cluster_value else 1
    return i + skip


def _call_arguments(text: str) -> str:
    """The shell command given by string literals: "a" + "b" concatenates; "a", "b" (or a
    list) are separate argv words."""
    if text.lstrip().startswith("["):
        items = [_unquote_literal(s) for s in re.findall(_STRING, text)]
        return " ".join(shlex.quote(w) for w in items)
    words: list[str] = []
    pieces: list[str] = []
    for m in re.finditer(_STRING + r"|([,+])", text):
        if m.group(2) == ",":
            words.append("".join(pieces))
            pieces = []
        elif m.group(1):
            pieces.append(_unquote_literal(m.group(1)))
    words.append("".join(pieces))
    return words[0] if len(words) == 1 else " ".join(shlex.quote(w) for w in words)


def _unquote_literal(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _iter_nodes(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or []:
            yield from _iter_nodes(child)
    for attr in ("command", "body"):
        child = getattr(node, attr, None)
        if child is not None and hasattr(child, "kind"):
            yield from _iter_nodes(child)


# ---------------------------------------------------------------------------------- analyzer


class _Analyzer:
    def __init__(self, home: str, max_depth: int) -> None:
        self.home = home
        self.max_depth = max_depth
        self.result = Analysis()
        self.budget = 2000

    # -- entry points --------------------------------------------------------------------

    def run(self, text: str, state: _State, depth: int, stdin: Source | None) -> Source:
        """Parse and walk `text` as a script; return what it writes to standard output."""
        if depth > self.max_depth:
            raise ShellAnalysisError("commands nested too deeply")
        prepared = _Prepared(text.replace(UNKNOWN, "${__llmos_unknown__}"))
        if not prepared.text.strip():
            return Source("text")
        try:
            nodes = bashlex.parse(prepared.text)
        except Exception as exc:  # bashlex raises ParsingError, NotImplementedError and others
            raise ShellAnalysisError(f"bash syntax not understood: {exc}") from exc
        out = Source("text")
        for node in nodes:
            out = self.walk(node, prepared, state, depth, stdin)
        return out

    def note(self, rule: str, detail: str) -> None:
        self.result.events.append(Finding(rule, detail))

    def code_source(self, src: Source | None, lang: str, call: _Call, what: str) -> None:
        """Judge a program read from `src` (stdin or a ``<(..)`` file) by `what` (bash, python)."""
        if src is None:
            return
        if src.kind == "text":
            if lang == "shell":
                self.run(src.text, call.state.fork(what), call.depth + 1, None)
            else:
                self.inline(lang, Arg(src.text), call)
        elif src.kind == "network":
            self.note("pipe-to-shell", f"{what} runs code downloaded from the network")
        elif src.kind == "decoded":
            self.note("obfuscated-exec", f"{what} runs code decoded from base64/hex")
        elif src.kind == "file" and src.text in call.state.downloads:
            self.note("pipe-to-shell", f"{what} runs {src.text}, downloaded in this command")
        elif src.kind != "file":
            self.note("pipe-to-shell", f"{what} runs text produced by another command")

    def code_string(self, arg: Arg, call: _Call, what: str) -> None:
        """A ``-c``/``eval`` string: check where it came from, then parse it as shell."""
        if self.tainted(arg, what):
            return
        state = call.state.fork()
        state.via = (*call.via, what)
        self.run(arg.text, state, call.depth + 1, call.stdin)

    def tainted(self, arg: Arg, what: str) -> bool:
        if "network" in arg.taint:
            self.note("pipe-to-shell", f"{what} runs code downloaded from the network")
        elif "decoded" in arg.taint:
            self.note("obfuscated-exec", f"{what} runs code decoded from base64/hex")
        else:
            return False
        return True

    # -- tree walking --------------------------------------------------------------------

    def walk(
        self, node: Any, unit: _Prepared, state: _State, depth: int, stdin: Source | None
    ) -> Source:
        self.budget -= 1
        if self.budget < 0:
            raise ShellAnalysisError("command too complex")
        kind = node.kind
        if kind == "list":
            out = Source("text")
            for part in node.parts:
                if part.kind != "operator":
                    out = self.walk(part, unit, state, depth, stdin)
            return out
        if kind == "pipeline":
            src = stdin
            for part in node.parts:
                if part.kind not in ("pipe", "reservedword"):
                    src = self.walk(part, unit, state.fork(), depth, src)
            return src or Source("unknown")
        if kind == "command":
            return self.simple(node, unit, state, depth, stdin)
        if kind == "compound":
            inner = (
                state.fork()
                if node.list and node.list[0].kind == "reservedword" and node.list[0].word == "("
                else state
            )
            stdin, redirects = self.redirects(
                getattr(node, "redirects", []), unit, inner, depth, stdin
            )
            if redirects:
                self.result.events.append(Command("", (), inner.cwd, redirects=tuple(redirects)))
            out = Source("text")
            for part in node.list:
                if part.kind != "reservedword":
                    out = self.walk(part, unit, inner, depth, stdin)
            return Source("unknown") if out.kind == "text" and redirects else out
        if kind in ("if", "while", "until"):
            for part in node.parts:
                if part.kind not in ("reservedword", "operator"):
                    self.walk(part, unit, state, depth, stdin)
            return Source("unknown")
        if kind == "for":
            return self.for_loop(node, unit, state, depth, stdin)
        if kind == "function":
            self.function(node, unit, state, depth)
            return Source("text")
        if kind in ("reservedword", "operator", "pipe"):
            return Source("text")
        raise ShellAnalysisError(f"unsupported shell construct: {kind}")

    def for_loop(
        self, node: Any, unit: _Prepared, state: _State, depth: int, stdin: Source | None
    ) -> Source:
        parts = node.parts
        var = parts[1].word
        items: list[Arg] = []
        i = 2
        if i < len(parts) and parts[i].kind == "reservedword" and parts[i].word == "in":
            i += 1
            while i < len(parts) and parts[i].kind == "word":
                items.extend(self.expand(parts[i], unit, state, depth))
                i += 1
        body = [p for p in parts[i:] if p.kind not in ("reservedword", "operator")]
        for item in items[:8] or [Arg(UNKNOWN)]:
            state.env[var] = _Val(item.text, item.taint)
            for part in body:
                self.walk(part, unit, state, depth, stdin)
        return Source("unknown")

    def function(self, node: Any, unit: _Prepared, state: _State, depth: int) -> None:
        name = node.name.word
        state.functions.add(name)
        nodes = list(_iter_nodes(node.body))
        calls_itself = any(
            n.kind == "command" and n.parts and getattr(n.parts[0], "word", None) == name
            for n in nodes
        )
        spawns = any(n.kind == "pipeline" or (n.kind == "operator" and n.op == "&") for n in nodes)
        if calls_itself and spawns:
            self.note("fork-bomb", f"function {name} calls itself in a pipeline or background")
        self.walk(node.body, unit, state.fork(), depth, None)

    def simple(
        self, node: Any, unit: _Prepared, state: _State, depth: int, stdin: Source | None
    ) -> Source:
        assignments: list[tuple[str, str]] = []
        words: list[Arg] = []
        cmd_state = state
        for part in node.parts:
            if part.kind == "assignment" and not words:
                raw = unit.text[part.pos[0] : part.pos[1]]
                name, _, value = raw.partition("=")
                val = self.expand_raw(
                    value, part.pos[0] + len(name) + 1, part, unit, state, depth, split=False
                )
                text = "".join(a.text for a in val)
                taint = frozenset().union(*(a.taint for a in val))
                if cmd_state is state:
                    cmd_state = state.fork()
                cmd_state.env[name.rstrip("+")] = _Val(text, taint)
                assignments.append((name.rstrip("+"), text))
            elif part.kind in ("word", "assignment"):
                words.extend(self.expand(part, unit, cmd_state, depth))
        redirect_nodes = [p for p in node.parts if p.kind == "redirect"]
        stdin, redirects = self.redirects(redirect_nodes, unit, cmd_state, depth, stdin)
        if not words:
            for name, _ in assignments:
                state.env[name] = cmd_state.env[name]
            self.result.events.append(
                Command(
                    "", (), state.cwd, redirects=tuple(redirects), assignments=tuple(assignments)
                )
            )
            return Source("text")
        call = _Call(words, cmd_state, depth, stdin, redirects, assignments, cmd_state.via)
        out = self.dispatch(call)
        if cmd_state is not state:  # cd / export inside a prefixed command still affect the shell
            state.cwd = cmd_state.cwd
        stdout = [r for r in redirects if r.stdout and UNKNOWN not in r.target]
        if out.kind == "network":
            state.downloads.update(_resolve(r.target, state.cwd) for r in stdout)
        return Source("text") if any(r.stdout for r in redirects) else out

    def redirects(
        self, nodes: list[Any], unit: _Prepared, state: _State, depth: int, stdin: Source | None
    ) -> tuple[Source | None, list[Redirect]]:
        out: list[Redirect] = []
        for r in nodes:
            op = r.type
            if op in ("<<", "<<-"):
                body = r.heredoc.value if getattr(r, "heredoc", None) else ""
                body = body.rsplit("\n", 1)[0] + "\n" if "\n" in body else ""
                if r.pos[0] in unit.quoted_heredocs:
                    stdin = Source("text", body)
                else:
                    args = self.expand_raw(body, -1, None, unit, state, depth, split=False, dq=True)
                    stdin = _text_source(args)
                continue
            if not hasattr(r.output, "pos"):  # 2>&1, 2>&- : descriptors, not files
                continue
            args = self.expand(r.output, unit, state, depth)
            if op == "<<<":
                stdin = _text_source(args, suffix="\n")
                continue
            target = " ".join(a.text for a in args)
            if op in (">&", "<&") and re.fullmatch(r"\d+-?|-", target):
                continue
            fd = r.input if isinstance(getattr(r, "input", None), int) else None
            if op == "<" and fd in (None, 0):
                path = _resolve(target, state.cwd) if UNKNOWN not in target else target
                stdin = args[0].source if args and args[0].source else Source("file", path)
            out.append(Redirect(op, target, fd))
        return stdin, out

    # -- word expansion ------------------------------------------------------------------

    def expand(self, node: Any, unit: _Prepared, state: _State, depth: int) -> list[Arg]:
        raw = unit.text[node.pos[0] : node.pos[1]]
        return self.expand_raw(raw, node.pos[0], node, unit, state, depth)

    def expand_raw(
        self,
        raw: str,
        base: int,
        node: Any,
        unit: _Prepared,
        state: _State,
        depth: int,
        *,
        split: bool = True,
        dq: bool = False,
    ) -> list[Arg]:
        subs = {}
        if node is not None:
            for part in getattr(node, "parts", None) or []:
                if part.kind in ("commandsubstitution", "processsubstitution"):
                    subs[part.pos[0] - base] = part
        alternatives = _brace_expand(raw) if split and "{" in raw else [raw]
        if len(alternatives) > 1:
            subs = {}
        out: list[Arg] = []
        for alt in alternatives:
            lexer = _Lexer(self, alt, subs, unit, state, depth, split=split)
            if dq:
                lexer.double_quoted(0, terminator=None)
            else:
                lexer.lex()
            out.extend(lexer.args())
        return out

    def substitution(
        self,
        inner: Any,
        text: str | None,
        unit: _Prepared,
        state: _State,
        depth: int,
        stdin: Source | None,
    ) -> Source:
        if inner is not None:
            return self.walk(inner, unit, state.fork(), depth, stdin)
        return self.run(text or "", state.fork(), depth + 1, stdin)

    def lookup(self, name: str, state: _State) -> _Val | None:
        if name == "PWD":
            return _Val(state.cwd)
        if name in ("@", "*"):
            values = [state.env[str(k)] for k in range(1, 10) if str(k) in state.env]
            if "1" not in state.env:
                return None
            return _Val(
                " ".join(v.text for v in values), frozenset().union(*(v.taint for v in values))
            )
        return state.env.get(name)

    # -- simple commands -----------------------------------------------------------------

    def record(self, call: _Call, name: str, program: str, args: list[Arg]) -> None:
        self.result.events.append(
            Command(
                name=name,
                argv=tuple(args),
                cwd=call.state.cwd,
                program=program,
                redirects=tuple(call.redirects),
                assignments=tuple(call.assignments),
                via=call.via,
                stdin=call.stdin,
                code=tuple(call.code),
            )
        )

    def dispatch(self, call: _Call) -> Source:
        self.budget -= 1
        if self.budget < 0:
            raise ShellAnalysisError("command too complex")
        argv = call.argv
        program = argv[0].text
        if UNKNOWN in program:
            self.tainted(argv[0], "the command")
            self.record(call, program, program, argv[1:])
            return Source("unknown")
        name = os.path.basename(program.rstrip("/")) or program
        args = argv[1:]
        if "/" in program and _resolve(program, call.state.cwd) in call.state.downloads:
            self.note("pipe-to-shell", f"{program} was downloaded in this command and is then run")
        inner = self.unwrap(name, args, call)
        if inner is not None:
            if not inner:
                self.record(call, name, program, args)
                return Source("unknown")
            call.argv = inner
            call.via = (*call.via, name)
            return self.dispatch(call)
        handler = _HANDLERS.get(name)
        if handler is None and name in SHELLS:
            handler = _Analyzer.shell
        elif handler is None and _INTERPRETER.match(name):
            handler = _Analyzer.interpreter
        if handler is not None:
            handler(self, name, args, call)
        self.record(call, name, program, args)
        return self.output(name, args, call)

    def unwrap(self, name: str, args: list[Arg], call: _Call) -> list[Arg] | None:
        """The wrapped command's argv if `name` is a wrapper ([] when it wraps nothing)."""
        texts = [a.text for a in args]
        if name in _WRAPPERS:
            skip, value_opts = _WRAPPERS[name]
            i = _skip_options(args, value_opts, skip)
            if name == "command" and any(t in ("-v", "-V") for t in texts[:i]):
                return None
            if (
                name == "sudo"
                and i >= len(args)
                and any(re.fullmatch(r"-\w*[si]\w*", t) for t in texts)
            ):
                return [Arg("bash")]
            if name == "flock" and "-c" in texts[:-1]:
                self.code_string(args[texts.index("-c") + 1], call, "flock -c")
                return []
            if name == "sudo" and any(t in ("-e", "--edit") for t in texts[:i]):
                return [Arg("sudoedit"), *args[i:]]
            if name == "chroot" and i == len(args):
                return [Arg("sh")]
            return args[i:]
        if name == "env":
            return self.unwrap_env(args, call)
        if name == "busybox" and args:
            return args
        if name == "su":
            for k, t in enumerate(texts):
                if t in ("-c", "--command") and k + 1 < len(args):
                    self.code_string(args[k + 1], call, "su -c")
                    return []
                if t.startswith("--command="):
                    self.code_string(Arg(t.split("=", 1)[1], args[k].taint), call, "su -c")
                    return []
            return [Arg("sh")]
        if name == "watch":
            i = _skip_options(args, frozenset({"-n", "--interval", "-q", "--equexit"}))
            if "-x" in texts[:i] or "--exec" in texts[:i]:
                return args[i:]
            if i < len(args):
                self.code_string(_join(args[i:]), call, "watch")
            return []
        if name == "tmux" and _TMUX_RUNS & set(texts) and args[-1].text not in _TMUX_RUNS:
            self.code_string(args[-1], call, "tmux")  # new-session/split-window/... 'command'
            return []
        if name == "script" and "-c" in texts and texts.index("-c") + 1 < len(args):
            self.code_string(args[texts.index("-c") + 1], call, "script -c")
            return []
        return None

    def unwrap_env(self, args: list[Arg], call: _Call) -> list[Arg] | None:
        i = 0
        while i < len(args):
            t = args[i].text
            if t in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string") and i + 1 < len(
                args
            ):
                value = args[i + 1]
                if t in ("-C", "--chdir") and UNKNOWN not in value.text:
                    call.state = call.state.fork()
                    call.state.cwd = _resolve(value.text, call.state.cwd)
                if t in ("-S", "--split-string"):
                    try:
                        split = [Arg(s, value.taint) for s in shlex.split(value.text)]
                    except ValueError as exc:
                        raise ShellAnalysisError("env -S string not understood") from exc
                    return split + args[i + 2 :] or None
                i += 2
            elif t.startswith("-") and t != "-":
                i += 1
            elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t):
                name, _, value_text = t.partition("=")
                call.state = call.state.fork()
                call.state.env[name] = _Val(value_text, args[i].taint)
                call.assignments.append((name, value_text))
                i += 1
            else:
                break
        return args[i:] or None

    def output(self, name: str, args: list[Arg], call: _Call) -> Source:
        """What the command writes to standard output, as far as it matters."""
        texts = [a.text for a in args]
        taint = frozenset().union(*(a.taint for a in args))
        stdin_kind = call.stdin.kind if call.stdin else "text"
        if name in ("echo", "printf") and not taint:
            return Source("text", _echo(list(texts)) if name == "echo" else _printf(texts))
        if name == "pwd":
            return Source("text", call.state.cwd + "\n")
        operands = [t for t in texts if not t.startswith("-")]
        if name in ("dirname", "basename", "realpath", "readlink") and operands and not taint:
            path = operands[0]
            if UNKNOWN in path:
                return Source("unknown")
            if name == "dirname":
                return Source("text", (os.path.dirname(path.rstrip("/")) or ".") + "\n")
            if name == "basename":
                return Source("text", os.path.basename(path.rstrip("/")) + "\n")
            return Source("text", os.path.normpath(os.path.join(call.state.cwd, path)) + "\n")
        if _is_decoder(name, texts):
            return Source("network" if stdin_kind == "network" else "decoded")
        if name in NETWORK_TOOLS:
            return self.network(name, args, call)
        if name == "find":
            return Source("paths", "\n".join(_find_roots(texts)))
        if name in ("cat", "tee", "head", "tail") and not [
            t for t in texts if not t.startswith("-")
        ]:
            return call.stdin or Source("unknown")
        kinds: list[SourceKind] = [
            "unknown",
            stdin_kind,
            *(t for t in ("network", "decoded") if t in taint),
        ]
        return Source(max(kinds, key=_SEVERITY.__getitem__))

    def network(self, name: str, args: list[Arg], call: _Call) -> Source:
        """Remember the files a download writes. Its output always counts as downloaded text,
        even when the tool writes to a file (``. <(wget URL)`` is still meant to run it)."""
        texts = [a.text for a in args]
        urls = [t for t in texts if re.match(r"^[a-z]+://", t)]
        files = []
        for k, t in enumerate(texts):
            nxt = texts[k + 1] if k + 1 < len(texts) else ""
            if name in ("curl", "aria2c") and (
                t in ("--output", "--out") or re.fullmatch(r"-[a-zA-Z]*o", t)
            ):
                files.append(nxt)
            elif name == "curl" and (t == "--remote-name" or re.fullmatch(r"-[a-zA-Z]*O", t)):
                files.extend(os.path.basename(u.split("?")[0]) for u in urls)
            elif name == "wget" and t == "--output-document":
                files.append(nxt)
            elif name == "wget" and re.fullmatch(r"--output-document=.*|-[a-zA-Z]*O.*", t):
                files.append(t.split("=", 1)[1] if "=" in t else t.split("O", 1)[1] or nxt)
        if name == "wget" and not files:
            files.extend(os.path.basename(u.split("?")[0]) or "index.html" for u in urls)
        for f in files:
            if f and f != "-" and UNKNOWN not in f:
                call.state.downloads.add(_resolve(f, call.state.cwd))
        return Source("network")

    # -- commands that run other code ----------------------------------------------------

    def shell(self, name: str, args: list[Arg], call: _Call) -> None:
        i, code_flag, from_stdin = 0, False, False
        while i < len(args):
            t = args[i].text
            if t in ("--", "-"):
                i += 1
                break
            if t in ("--rcfile", "--init-file"):
                i += 2
                continue
            if t.startswith("--") or (t[:1] in "-+" and len(t) > 1):
                letters = t[1:] if not t.startswith("--") else ""
                code_flag = code_flag or (t[0] == "-" and "c" in letters)
                from_stdin = from_stdin or "s" in letters
                i += 2 if any(x in letters for x in "oO") else 1
                continue
            break
        rest = args[i:]
        if code_flag:
            if rest:
                sub = _Call(call.argv, call.state.fork(), call.depth, call.stdin, [], [], call.via)
                for k, a in enumerate(rest[1:11]):
                    sub.state.env[str(k)] = _Val(a.text, a.taint)
                self.code_string(rest[0], sub, f"{name} -c")
        elif rest and not from_stdin:
            self.script_arg(rest[0], call, name, "shell")
        else:
            self.code_source(call.stdin, "shell", call, name)

    def script_arg(self, arg: Arg, call: _Call, what: str, lang: str) -> None:
        if arg.source is not None:
            self.code_source(arg.source, lang, call, what)
        elif self.tainted(arg, what):
            return
        elif UNKNOWN not in arg.text and _resolve(arg.text, call.state.cwd) in call.state.downloads:
            self.note("pipe-to-shell", f"{what} runs {arg.text}, downloaded in this command")

    def source_builtin(self, name: str, args: list[Arg], call: _Call) -> None:
        if args:
            self.script_arg(args[0], call, name, "shell")

    def eval_builtin(self, name: str, args: list[Arg], call: _Call) -> None:
        if args:
            self.code_string(_join(args), call, "eval")

    def trap_builtin(self, name: str, args: list[Arg], call: _Call) -> None:
        if len(args) >= 2 and not args[0].text.startswith("-"):
            self.code_string(args[0], call, "trap")

    def cd_builtin(self, name: str, args: list[Arg], call: _Call) -> None:
        targets = [a.text for a in args if not a.text.startswith("-")]
        target = targets[0] if targets else self.home
        if UNKNOWN not in target:
            call.state.cwd = os.path.normpath(os.path.join(call.state.cwd, target))

    def declare_builtin(self, name: str, args: list[Arg], call: _Call) -> None:
        for a in args:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", a.text, re.S)
            if m:
                call.state.env[m.group(1)] = _Val(m.group(2), a.taint)
        if name == "unset":
            for a in args:
                if not a.text.startswith("-"):
                    call.state.env[a.text] = _Val("")
        if name == "read":
            for a in args:
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a.text):
                    call.state.env[a.text] = _Val(UNKNOWN)

    def xargs(self, name: str, args: list[Arg], call: _Call) -> None:
        replace: str | None = None
        i, delimiter = 0, None
        while i < len(args):
            t = args[i].text
            if t == "--":
                i += 1
                break
            if not t.startswith("-") or t == "-":
                break
            if t in ("-I", "--replace") and i + 1 < len(args):
                replace = args[i + 1].text
            elif t.startswith("-I") or t.startswith("--replace="):
                replace = t[2:] if t.startswith("-I") else t.split("=", 1)[1]
            elif t.startswith("-i"):
                replace = t[2:] or "{}"
            elif t in ("-0", "--null"):
                delimiter = "\0"
            elif t in ("-L", "-l", "--max-lines") or t.startswith("-L"):
                delimiter = "\n"
            i += 2 if t in _XARGS_VALUE else 1
        template = args[i:] or [Arg("echo")]
        items = _items(call.stdin, "\n" if replace else delimiter)
        self.spawn(template, items, replace, call, "xargs", shell=False)

    def parallel(self, name: str, args: list[Arg], call: _Call) -> None:
        i = _skip_options(args, _PARALLEL_VALUE)
        template: list[Arg] = []
        items: list[Arg] = []
        group = False
        for a in args[i:]:
            if a.text in (":::", ":::+"):
                group = True
            elif a.text in ("::::", "::::+"):
                items.append(Arg(UNKNOWN))
                group = False
            elif group:
                items.append(a)
            else:
                template.append(a)
        if not group and not items:
            items = _items(call.stdin, "\n")
        self.spawn(template, items, "{}", call, "parallel", shell=True)

    def spawn(
        self,
        template: list[Arg],
        items: list[Arg],
        replace: str | None,
        call: _Call,
        via: str,
        *,
        shell: bool,
    ) -> None:
        """Run `template` once per input item, as xargs, parallel or find -exec would."""
        for item in items[:_MAX_ITEMS]:
            value = item.text if not shell or UNKNOWN in item.text else shlex.quote(item.text)
            if replace and any(replace in a.text for a in template):
                argv = [
                    Arg(a.text.replace(replace, value), a.taint | item.taint, a.variables)
                    for a in template
                ]
            elif shell and not template:
                argv = [Arg(item.text, item.taint)]
            else:
                argv = [*template, Arg(value, item.taint)]
            sub = _Call(argv, call.state.fork(), call.depth, None, [], [], (*call.via, via))
            if shell:
                self.code_string(_join(argv), sub, via)
            else:
                self.dispatch(sub)

    def find(self, name: str, args: list[Arg], call: _Call) -> None:
        texts = [a.text for a in args]
        roots = _find_roots(texts)
        for k, t in enumerate(texts):
            if t in ("-exec", "-execdir", "-ok", "-okdir"):
                end = k + 1
                while end < len(texts) and texts[end] not in (";", "+"):
                    end += 1
                template = args[k + 1 : end]
                if template:  # {} stands for entries under each root
                    items = [Arg(os.path.join(r, "*")) for r in roots]
                    self.spawn(template, items, "{}", call, "find", shell=False)

    def interpreter(self, name: str, args: list[Arg], call: _Call) -> None:
        lang = _language(name)
        codes, script, reads_stdin = _interpreter_args(lang, args)
        if lang == "pwsh" and any(
            a.text.lower() in ("-encodedcommand", "-enc", "-e", "-ec") for a in args
        ):
            self.note("obfuscated-exec", f"{name} runs a base64-encoded command")
        if lang == "deno" and args and args[0].text == "run" and _has_url(args[1:]):
            self.note("pipe-to-shell", "deno runs a script straight from the network")
        for code in codes:
            self.inline(lang, code, call)
        if script is not None:
            self.script_arg(script, call, name, lang)
        elif reads_stdin:
            self.code_source(call.stdin, lang, call, name)

    def inline(self, lang: str, code: Arg, call: _Call) -> None:
        """An interpreter one-liner: keep it for the policy and analyse the shell it runs."""
        if self.tainted(code, lang):
            return
        call.code.append((lang, code.text))
        for snippet, fed in _embedded_shell(lang, code.text):
            self.run(snippet, call.state.fork(), call.depth + 1, Source("unknown") if fed else None)


def _has_url(args: list[Arg]) -> bool:
    return any(re.match(r"https?://", a.text) for a in args)


def _text_source(args: list[Arg], suffix: str = "") -> Source:
    taint = frozenset().union(*(a.taint for a in args))
    kind: SourceKind = (
        "network" if "network" in taint else "decoded" if "decoded" in taint else "text"
    )
    return Source(kind, " ".join(a.text for a in args) + suffix)


def _join(args: list[Arg]) -> Arg:
    return Arg(
        " ".join(a.text for a in args),
        frozenset().union(*(a.taint for a in args)),
        frozenset().union(*(a.variables for a in args)),
    )


def _items(src: Source | None, delimiter: str | None) -> list[Arg]:
    """The items xargs/parallel read from `src`."""
    if src is None or src.kind in ("unknown", "file", "network", "decoded"):
        taint = frozenset({src.kind}) & {"network", "decoded"} if src else frozenset()
        return [Arg(UNKNOWN, frozenset(taint))]
    if src.kind == "paths":  # find output: entries under each root
        return [Arg(os.path.join(p, "*")) for p in src.text.split("\n") if p]
    if delimiter is None:
        try:
            parts = shlex.split(src.text)
        except ValueError:
            parts = src.text.split()
    else:
        parts = [p for p in src.text.split(delimiter) if p.strip()]
    return [Arg(p) for p in parts] or [Arg("")]


def _is_decoder(name: str, texts: list[str]) -> bool:
    if name in _DECODE_FLAGS or name == "basenc":
        return any(
            t in _DECODE_FLAGS.get(name, ("-d", "--decode")) or re.fullmatch(r"-\w*d\w*", t)
            for t in texts
        )
    if name == "xxd":
        return any(re.fullmatch(r"-\w*r\w*", t) for t in texts)
    if name == "openssl":
        return bool({"base64", "enc"} & set(texts)) and "-d" in texts
    if name in ("gzip", "bzip2", "xz", "zstd", "lz4"):
        return any(re.fullmatch(r"-\w*d\w*|--decompress", t) for t in texts)
    return name in _ALWAYS_DECODERS


def _find_roots(texts: list[str]) -> list[str]:
    roots = []
    for t in texts:
        if t.startswith("-") or t in ("(", "!", ")"):
            break
        roots.append(t)
    return roots or ["."]


_LANGUAGES = {
    "python": "python", "pypy": "python", "perl": "perl", "ruby": "ruby", "php": "php",
    "lua": "lua", "node": "node", "bun": "node", "deno": "deno", "Rscript": "r",
    "osascript": "osascript", "pwsh": "pwsh", "powershell": "pwsh", "tclsh": "tcl",
}  # fmt: skip


def _language(name: str) -> str:
    prefix = next((p for p in _LANGUAGES if name.startswith(p)), "")
    return _LANGUAGES.get(prefix) or ("awk" if name.endswith("awk") else "vim")


def _interpreter_args(lang: str, args: list[Arg]) -> tuple[list[Arg], Arg | None, bool]:
    """(inline programs, script file, reads its program from stdin) of an interpreter call."""
    texts = [a.text for a in args]
    if lang == "vim":
        codes = [args[k + 1] for k, t in enumerate(texts[:-1]) if t in ("-c", "--cmd")]
        codes += [
            Arg(t[1:], a.taint) for t, a in zip(texts, args, strict=True) if t.startswith("+")
        ]
        return codes, None, False
    if lang == "awk":
        k = 0
        while k < len(args):
            t = texts[k]
            if t in ("-f", "--file"):
                return [], args[k + 1] if k + 1 < len(args) else None, False
            if t in ("-F", "-v", "--assign", "--field-separator"):
                k += 2
            elif t.startswith("-") and t != "-":
                k += 1
            else:
                return [args[k]], None, False
        return [], None, False
    if lang == "deno":
        return ([args[1]] if texts[:1] == ["eval"] and len(args) > 1 else []), None, False
    found: list[Arg] = []
    k = 0
    while k < len(args):
        t, nxt = texts[k], args[k + 1] if k + 1 < len(args) else None
        if t == "-":
            return found, None, not found
        if t == "--" or not t.startswith("-"):
            k += t == "--"
            script = args[k] if k < len(args) and not found else None
            return found, script, False
        code, consumed = _code_option(lang, t, nxt)
        if code is not None:
            found.append(code if isinstance(code, Arg) else Arg(code, args[k].taint))
        if consumed < 0:  # python -m module: no program text of its own
            return found, None, False
        k += 1 + consumed
    return found, None, not found


def _code_option(lang: str, t: str, nxt: Arg | None) -> tuple[Arg | str | None, int]:
    """(inline code, number of following args consumed) for an interpreter option `t`."""
    if t.startswith("--"):
        if lang == "node" and t in ("--eval", "--print"):
            return nxt, 1
        if lang == "node" and t.startswith(("--eval=", "--print=")):
            return t.split("=", 1)[1], 0
        takes_value = {"--require", "--import", "--loader", "--input-type", "--title"}
        return None, 1 if t in takes_value else 0
    letters = t[1:]
    if lang == "pwsh":
        return (nxt, 1) if letters.lower() in ("c", "command") else (None, 0)
    code_letters = {"python": "c", "perl": "eE", "ruby": "e", "node": "ep", "php": "r", "lua": "e"}
    code_letters |= {"r": "e", "osascript": "e"}
    value_letters = {"python": "WXm", "perl": "MmIil0xdDC", "ruby": "rICEFix0", "node": "r"}
    value_letters |= {"php": "cdz", "lua": "l", "osascript": "l"}
    for k, letter in enumerate(letters):
        rest = letters[k + 1 :]
        if letter in code_letters.get(lang, ""):
            return (rest, 0) if rest else (nxt, 1)
        if letter in value_letters.get(lang, ""):
            if lang == "python" and letter == "m":
                return None, -1
            return None, 0 if rest else 1
    return None, 0


def _embedded_shell(lang: str, code: str) -> list[tuple[str, bool]]:
    """Shell commands a one-liner runs through system()/exec() and the like, as
    (command, fed with program output) pairs; plus the files it deletes or writes, as
    equivalent ``rm``/``:>>`` commands so that the same path rules judge them."""
    family = {"deno": "node", "tcl": "python", "pwsh": "python"}.get(lang, lang)
    out: list[tuple[str, bool]] = []
    sinks = _SHELL_SINKS.get(family)
    if sinks:
        pattern = re.compile(r"(?<!\w)(?:" + sinks + r")\s*\(?\s*(" + _ARGS + "|" + _LIST + ")")
        for m in pattern.finditer(code):
            out.append((_call_arguments(m.group(1)), False))
    if family in ("perl", "ruby", "php"):
        for m in _BACKTICK_CODE.finditer(code):
            out.append((next(g for g in m.groups() if g is not None), False))
    if family == "awk":
        for m in _AWK_PIPE.finditer(code):
            if m.group(1):  # print | "command": the command reads awk's output
                out.append((_unquote_literal(m.group(1)), True))
            else:  # "command" | getline
                out.append((_unquote_literal(m.group(2)), False))
    if family == "vim":  # an ex command; `:!cmd` runs the rest of the line, | included
        bang = re.search(r"(?:^|\|)\s*:?\s*!(.*)", code, re.S)
        out.extend([(bang.group(1), False)] if bang else [])
    for m in [*_DELETE_CALL.finditer(code), *_PATH_DELETE.finditer(code)]:
        out.append(("rm -rf -- " + shlex.quote(_unquote_literal(m.group(1))), False))
    for m in _WRITE_CALL.finditer(code):
        path = m.group(1) or m.group(2)
        out.append((": >> " + shlex.quote(_unquote_literal(path)), False))
    return out


_HANDLERS = {
    "source": _Analyzer.source_builtin,
    ".": _Analyzer.source_builtin,
    "eval": _Analyzer.eval_builtin,
    "trap": _Analyzer.trap_builtin,
    "cd": _Analyzer.cd_builtin,
    "pushd": _Analyzer.cd_builtin,
    "export": _Analyzer.declare_builtin,
    "declare": _Analyzer.declare_builtin,
    "typeset": _Analyzer.declare_builtin,
    "local": _Analyzer.declare_builtin,
    "readonly": _Analyzer.declare_builtin,
    "unset": _Analyzer.declare_builtin,
    "read": _Analyzer.declare_builtin,
    "xargs": _Analyzer.xargs,
    "parallel": _Analyzer.parallel,
    "find": _Analyzer.find,
}


# ------------------------------------------------------------------------------------- lexer


class _Lexer:
    """Expands one raw word the way bash would: quote removal, parameters, substitutions,
    ``~`` and (unquoted) word splitting. Unknown values become `UNKNOWN`."""

    def __init__(
        self,
        analyzer: _Analyzer,
        raw: str,
        subs: dict[int, Any],
        unit: _Prepared,
        state: _State,
        depth: int,
        *,
        split: bool,
    ) -> None:
        self.a, self.raw, self.subs, self.unit = analyzer, raw, subs, unit
        self.state, self.depth, self.split = state, depth, split
        self.fields: list[list[str]] = [[]]
        self.started = [False]
        self.taint: set[str] = set()
        self.variables: set[str] = set()
        self.source: Source | None = None

    def args(self) -> list[Arg]:
        out = []
        for pieces, started in zip(self.fields, self.started, strict=True):
            text = "".join(pieces)
            if text or started:
                out.append(Arg(text, frozenset(self.taint), frozenset(self.variables), self.source))
        return out

    def add(self, text: str, *, quoted: bool) -> None:
        if quoted or not self.split:
            self.fields[-1].append(text)
            self.started[-1] = self.started[-1] or quoted
            return
        ifs = self.state.env.get("IFS")
        chars = ifs.text if ifs is not None and UNKNOWN not in ifs.text else " \t\n"
        if not chars:
            self.fields[-1].append(text)
            return
        parts = re.split("[" + re.escape(chars) + "]+", text)
        self.fields[-1].append(parts[0])
        self.started[-1] = self.started[-1] or bool(parts[0])
        for p in parts[1:]:
            self.fields.append([p])
            self.started.append(bool(p))

    def lex(self) -> None:
        raw, i = self.raw, 0
        if raw.startswith("~"):
            i = self.tilde(0)
        while i < len(raw):
            c = raw[i]
            if c == "\\":
                if raw[i + 1 : i + 2] != "\n":
                    self.add(raw[i + 1 : i + 2], quoted=True)
                i += 2
            elif c == "'":
                end = raw.find("'", i + 1)
                end = len(raw) if end < 0 else end
                self.add(raw[i + 1 : end], quoted=True)
                i = end + 1
            elif c == '"':
                i = self.double_quoted(i + 1, terminator='"')
            elif c == "$" and raw.startswith("$'", i):
                end = i + 2
                while end < len(raw) and raw[end] != "'":
                    end += 2 if raw[end] == "\\" else 1
                self.add(_ansi_c(raw[i + 2 : end]), quoted=True)
                i = end + 1
            elif c == "$" and raw.startswith('$"', i):
                i = self.double_quoted(i + 2, terminator='"')
            elif c in "<>" and raw.startswith("(", i + 1):
                i = self.process_substitution(i)
            elif c in "$`":
                i = self.dollar(i, quoted=False)
            else:
                self.add(c, quoted=True)
                if c in ":=" and raw.startswith("~", i + 1) and not self.split:
                    i = self.tilde(i + 1)
                    continue
                i += 1

    def double_quoted(self, i: int, terminator: str | None) -> int:
        raw = self.raw
        self.started[-1] = True
        while i < len(raw):
            c = raw[i]
            if terminator and c == terminator:
                return i + 1
            if c == "\\" and i + 1 < len(raw) and raw[i + 1] in '$`"\\\n':
                if raw[i + 1] != "\n" and not (raw[i + 1] == '"' and terminator is None):
                    self.add(raw[i + 1], quoted=True)
                elif raw[i + 1] == '"':
                    self.add('\\"', quoted=True)
                i += 2
            elif c in "$`":
                i = self.dollar(i, quoted=True)
            else:
                self.add(c, quoted=True)
                i += 1
        return i

    def tilde(self, i: int) -> int:
        raw = self.raw
        m = re.match(r"~([A-Za-z0-9._-]*|[+-])(?=/|$|:)", raw[i:])
        if not m:
            return i
        user, home = m.group(1), self.a.home
        if user == "":
            value = home
        elif user == "+":
            value = self.state.cwd
        elif user == "-":
            value = UNKNOWN
        elif user == "root":
            value = "/root"
        elif user == os.path.basename(home):
            value = home
        else:
            value = os.path.join(os.path.dirname(home), user)
        self.add(value, quoted=True)
        return i + m.end()

    def dollar(self, i: int, *, quoted: bool) -> int:
        raw = self.raw
        if raw[i] == "`" or raw.startswith("$(", i):
            node = self.subs.get(i)
            if node is not None:
                end = node.pos[1] - (node.pos[0] - i)
                src = self.a.substitution(
                    node.command, None, self.unit, self.state, self.depth, None
                )
            elif raw[i] == "`":
                end = i + 1
                while end < len(raw) and raw[end] != "`":
                    end += 2 if raw[end] == "\\" else 1
                inner = re.sub(r"\\([`$\\])", r"\1", raw[i + 1 : end])
                end += 1
                src = self.a.substitution(None, inner, self.unit, self.state, self.depth, None)
            else:
                end = _find_close(raw, i + 1)
                src = self.a.substitution(
                    None, raw[i + 2 : end - 1], self.unit, self.state, self.depth, None
                )
            if src.kind in ("network", "decoded"):
                self.taint.add(src.kind)
            value = src.text.rstrip("\n") if src.kind == "text" else UNKNOWN
            if raw.startswith("$(__llmos_arith__", i):
                value = UNKNOWN
            self.add(value, quoted=quoted)
            return end
        if raw.startswith("${", i):
            end = _find_close(raw, i + 1, "{", "}")
            self.add(self.parameter(raw[i + 2 : end - 1]), quoted=quoted)
            return end
        m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", raw[i:])
        if not m:
            self.add("$", quoted=True)
            return i + 1
        self.add(self.value(m.group(1)), quoted=quoted)
        return i + m.end()

    def value(self, name: str) -> str:
        self.variables.add(name)
        val = self.a.lookup(name, self.state)
        if val is None:
            return UNKNOWN
        self.taint.update(val.taint)
        return val.text

    def parameter(self, body: str) -> str:
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])", body)
        if not m or (body.startswith(("#", "!")) and len(body) > 1):
            if m:
                self.variables.add(m.group(1))
            return UNKNOWN
        name, rest = m.group(1), body[m.end() :]
        if not rest:
            return self.value(name)
        self.variables.add(name)
        val = self.a.lookup(name, self.state)
        op = re.match(r":?[-=?+]", rest)
        if not op:
            if val:
                self.taint.update(val.taint)
            return UNKNOWN
        word = rest[op.end() :]
        if op.group(0).endswith("?") and val is None:
            return UNKNOWN + "x"  # set and, with `:?`, non-empty: the shell stops otherwise
        if op.group(0).endswith("+"):
            return (
                self.word(word)
                if val is not None and val.text
                else ("" if val is not None else UNKNOWN)
            )
        if val is not None and (val.text or ":" not in op.group(0)):
            self.taint.update(val.taint)
            return val.text
        return self.word(word)

    def word(self, raw: str) -> str:
        args = self.a.expand_raw(raw, -1, None, self.unit, self.state, self.depth, split=False)
        for a in args:
            self.taint.update(a.taint)
            self.variables.update(a.variables)
        return " ".join(a.text for a in args)

    def process_substitution(self, i: int) -> int:
        raw = self.raw
        node = self.subs.get(i)
        end = node.pos[1] - (node.pos[0] - i) if node is not None else _find_close(raw, i + 1)
        stdin = Source("unknown") if raw[i] == ">" else None
        src = self.a.substitution(
            node.command if node is not None else None,
            raw[i + 2 : end - 1],
            self.unit,
            self.state,
            self.depth,
            stdin,
        )
        self.source = src
        self.add("/dev/fd/63", quoted=True)
        return end
