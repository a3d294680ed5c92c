"""The pre-pass: rewrites a command line into what bashlex can parse, and text helpers
shared by the walker and word expansion (ANSI-C strings, matching brackets)."""

from __future__ import annotations

import re

from llmos._internal.security.shell_types import ShellAnalysisError


class Prepared:
    """Rewrites what bashlex cannot parse into equivalents it can, and drops comments.

    ``$((..))`` / ``$[..]`` become ``$(__llmos_arith__ "..")`` (the inner substitutions stay
    visible), the ``time`` and ``coproc`` keywords are blanked, ``select`` becomes ``for``
    and a C-style ``for ((..))`` header one pass of a plain ``for`` (the body is what
    matters; ``for ((;;))`` becomes ``while true``), ``[[``/``]]`` become ``[``/``]`` with a
    ``=~`` regex (data) replaced by a placeholder, and quoted here-document delimiters are
    unquoted (their offsets are kept: such bodies are literal). Arrays and ``case`` stay
    unparseable: the policy asks about them. A header or regex holding a substitution is left
    alone (unparseable too).
    """

    _RESERVED = frozenset("then do else elif if while until ! { ( time".split())

    def __init__(self, text: str) -> None:
        self.src = text
        self.out: list[str] = []
        self.quoted_heredocs: set[int] = set()
        self.pending: list[tuple[str, bool]] = []
        self.in_test = False  # inside [[ .. ]]
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
                if self._keyword(src, i):
                    continue
                m = re.match(r"(time(?:\s+-p)?|\[\[)(?=[ \t])", src[i:])
                if m:
                    self._emit(" " * len(m.group(1)) if m.group(1) != "[[" else "[ ")
                    self.in_test = self.in_test or m.group(1) == "[["
                    self.i += len(m.group(1))
                    continue
                m = re.match(r"[^\s;&|()<>'\"`$\\]+", src[i:])
                if m:
                    word = m.group(0)
                    self._emit(word)
                    self.i += len(word)
                    cmd_start = word in self._RESERVED
                    continue
            if self.in_test and boundary and src.startswith("=~", i) and self._regex(src, i):
                continue
            if c == "]" and src.startswith("]]", i) and boundary and self._ends_word(i + 2):
                self._emit(" ]")
                self.in_test = False
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

    def _keyword(self, src: str, i: int) -> bool:
        """Rewrite `select`, `coproc` and a C-style `for ((..))` at a command's start."""
        if re.match(r"select[ \t]", src[i:]):
            self._emit("for")
            self.i += len("select")
            return True
        m = re.match(r"coproc[ \t]+(?:[A-Za-z_][A-Za-z0-9_]*[ \t]*(?=[{(]))?", src[i:])
        if m:
            self._emit(" " * m.end())
            self.i += m.end()
            return True
        m = re.match(r"for[ \t]*\(\(", src[i:])
        if not m:
            return False
        j, depth = i + m.end(), 0
        while j < len(src) and not (depth == 0 and src.startswith("))", j)):
            depth += {"(": 1, ")": -1}.get(src[j], 0)
            j += 1
        header = src[i + m.end() : j]
        if j >= len(src) or "$(" in header or "`" in header:
            return False
        rest = src[j + 2 :].lstrip(" \t")
        parts = header.split(";")
        endless = len(parts) == 3 and not parts[1].strip()  # for ((;;)): no condition
        head = "while true" if endless else "for __llmos_i__ in 1"
        self._emit(head + ("" if rest[:1] in (";", "\n") else ";"))
        self.i = j + 2
        return True

    def _regex(self, src: str, i: int) -> bool:
        """Replace the regex after `=~` inside ``[[ .. ]]`` (a pattern, never run)."""
        end = i + 2
        while end < len(src) and not (
            src.startswith("]]", end) and src[end - 1] in " \t" and self._ends_word(end + 2)
        ):
            end += 1
        regex = src[i + 2 : end]
        if end >= len(src) or "$(" in regex or "`" in regex:
            return False
        self._emit("=~ __llmos_regex__ ")
        self.i = end
        return True

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
            end = find_close(src, i + 1, "{", "}")
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
        inner = Prepared(src[i + len(opener) : j]).text.replace('"', " ")
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


# ----------------------------------------------------------------------- text helpers


def ansi_c(body: str) -> str:
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


def find_close(text: str, i: int, opener: str = "(", closer: str = ")") -> int:
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
