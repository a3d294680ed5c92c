"""Word expansion: what a raw shell word becomes once bash has expanded it (quotes, ``~``,
parameters, command and process substitutions, brace expansion, word splitting), as far as it
is known without running anything; and the text ``echo`` and ``printf`` would print."""

from __future__ import annotations

import itertools
import os
import re
from typing import TYPE_CHECKING, Any

from llmos._internal.security.shell_prepass import Prepared, ansi_c, find_close
from llmos._internal.security.shell_types import UNKNOWN, Arg, ShellAnalysisError, Source, State

if TYPE_CHECKING:
    from llmos._internal.security.shell_walker import Walker


def brace_expand(word: str, limit: int = 64) -> list[str]:
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
                    out.extend(brace_expand(word[:i] + alt + word[end:], limit))
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


def printf_text(args: list[str]) -> str:
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
                out.append(ansi_c(v) if p.endswith("b") else v)
            else:
                out.append("%" if p == "%%" else ansi_c(p))
        if not directives or k >= len(values):
            return "".join(out)


def echo_text(args: list[str]) -> str:
    escapes, newline = False, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = "e" in flags or (escapes and "E" not in flags)
    text = " ".join(args)
    return (ansi_c(text) if escapes else text) + ("\n" if newline else "")


# ----------------------------------------------------------------------------- the lexer


class Lexer:
    """Expands one raw word the way bash would: quote removal, parameters, substitutions,
    ``~`` and (unquoted) word splitting. Unknown values become `UNKNOWN`."""

    def __init__(
        self,
        analyzer: Walker,
        raw: str,
        subs: dict[int, Any],
        unit: Prepared,
        state: State,
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
                self.add(ansi_c(raw[i + 2 : end]), quoted=True)
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
                end = find_close(raw, i + 1)
                src = self.a.substitution(
                    None, raw[i + 2 : end - 1], self.unit, self.state, self.depth, None
                )
            if src.kind in ("network", "decoded", "processes"):
                self.taint.add(src.kind)
            value = src.text.rstrip("\n") if src.kind == "text" else UNKNOWN
            if raw.startswith("$(__llmos_arith__", i):
                value = UNKNOWN
            self.add(value, quoted=quoted)
            return int(end)
        if raw.startswith("${", i):
            end = find_close(raw, i + 1, "{", "}")
            self.add(self.parameter(raw[i + 2 : end - 1]), quoted=quoted)
            return end
        m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", raw[i:])
        if not m:
            self.add("$", quoted=True)
            return i + 1
        if m.group(1) == "@" and quoted and "1" in self.state.env:
            self.positional_words()
        else:
            self.add(self.value(m.group(1)), quoted=quoted)
        return i + m.end()

    def positional_words(self) -> None:
        """``"$@"``: each positional parameter a word of its own, quoted or not."""
        self.variables.add("@")
        for k in range(1, 10):
            val = self.state.env.get(str(k))
            if val is None:
                break
            if k > 1:
                self.fields.append([])
                self.started.append(True)
            self.taint.update(val.taint)
            self.add(val.text, quoted=True)

    def value(self, name: str) -> str:
        self.variables.add(name)
        val = self.a.lookup(name, self.state)
        if val is None:
            return UNKNOWN
        self.taint.update(val.taint)
        return val.text

    def parameter(self, body: str) -> str:
        indirect = re.fullmatch(r"!([A-Za-z_][A-Za-z0-9_]*|[0-9]+)", body)
        if indirect:  # ${!name}: the variable whose name is name's value
            pointer = self.a.lookup(indirect.group(1), self.state)
            self.variables.add(indirect.group(1))
            if pointer is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", pointer.text):
                return UNKNOWN
            return self.value(pointer.text)
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
        end = node.pos[1] - (node.pos[0] - i) if node is not None else find_close(raw, i + 1)
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
