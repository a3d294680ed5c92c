"""Interpreter one-liners (``python -c``, ``perl -e``, ``node -e``, awk, vim ``-c``...): where
an interpreter call keeps its program, and the shell commands and file operations that program
performs, turned into equivalent shell text that the walker analyses like any other."""

from __future__ import annotations

import re
import shlex

from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.shell_types import UNKNOWN, Arg

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
    "vim": r"system|systemlist|os\.execute|io\.popen|vim\.fn\.system",
}
_STRING = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
_LITERAL = "(?:" + _STRING[1:-1] + ")"  # a string literal, without a capturing group
_LIST = r"(\[\s*" + _LITERAL + r"(?:\s*,\s*" + _LITERAL + r")*\s*,?\s*\])"
_DELETE_CALL = LazyRegex(
    r"(?:shutil\.rmtree|os\.(?:remove|unlink|rmdir|removedirs)|FileUtils\.(?:rm\w*|remove\w*)"
    r"|File\.(?:delete|unlink)"
    r"|Dir\.(?:delete|rmdir|unlink)|\.(?:rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink)"
    r"|rimraf(?:\.sync)?|remove_tree|rmtree|unlink|rmdir|file\.remove)\s*\(\s*" + _STRING
)
_PATH_DELETE = LazyRegex(r"Path\(\s*" + _STRING + r"\s*\)\.(?:unlink|rmdir|rmtree)")
_WRITE_CALL = LazyRegex(
    r"(?:\bopen\s*\(\s*" + _STRING + r"\s*,\s*['\"][^'\"]*[wax+]"
    r"|(?:File\.write|IO\.write|\.(?:writeFileSync|appendFileSync|writeFile|appendFile)"
    r"|file_put_contents|\.write_text|\.write_bytes)\s*\(\s*" + _STRING + r")"
)
_ARGS = _STRING + r"(?:\s*[,+]\s*" + _STRING + r")*"
_BACKTICK_CODE = LazyRegex(  # `cmd`, qx{cmd}, qx(cmd), %x{cmd}, %x(cmd): braces inside kept
    r"`([^`]+)`|(?:\bqx\s*|%x)(?:\(((?:[^()]|\([^()]*\))*)\)|\{((?:[^{}]|\{[^{}]*\})*)\})"
)
_AWK_PIPE = LazyRegex(r"\|&?\s*" + _STRING + r"|" + _STRING + r"\s*\|&?\s*getline")


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


_LANGUAGES = {
    "python": "python", "pypy": "python", "perl": "perl", "ruby": "ruby", "php": "php",
    "lua": "lua", "node": "node", "bun": "node", "deno": "deno", "Rscript": "r",
    "osascript": "osascript", "pwsh": "pwsh", "powershell": "pwsh", "tclsh": "tcl",
    "expect": "tcl", "tsx": "node", "ts-node": "node", "zx": "node",
}  # fmt: skip


def language(name: str) -> str:
    prefix = next((p for p in _LANGUAGES if name.startswith(p)), "")
    return _LANGUAGES.get(prefix) or ("awk" if name.endswith("awk") else "vim")


_EXTENSIONS = {
    ".py": "python", ".js": "node", ".mjs": "node", ".cjs": "node", ".ts": "node",
    ".pl": "perl", ".pm": "perl", ".rb": "ruby", ".php": "php", ".lua": "lua",
    ".tcl": "tcl", ".exp": "tcl", ".awk": "awk", ".sh": "shell", ".bash": "shell",
}  # fmt: skip


def script_language(text: str, path: str) -> str:
    """The language of a script file: its ``#!`` line, else its extension, else shell (a
    file without one is run by /bin/sh)."""
    from llmos._internal.security.shell_tables import INTERPRETER, SHELLS

    if text.startswith("#!"):
        words = text[2 : text.find("\n") if "\n" in text else None].split()
        while words and (words[0].endswith("/env") or words[0].startswith("-")):
            words.pop(0)
        name = words[0].rsplit("/", 1)[-1] if words else "sh"
        if name in SHELLS:
            return "shell"
        if name in ("make", "gmake"):
            return "make"
        if INTERPRETER.match(name):
            return language(name)
        return name
    ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSIONS.get(ext, "shell")


def interpreter_args(lang: str, args: list[Arg]) -> tuple[list[Arg], Arg | None, bool]:
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
        if lang == "tcl" and t == "-f":  # expect -f script
            return found, nxt, False
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
    code_letters |= {"r": "e", "osascript": "e", "tcl": "c"}
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


def embedded_shell(lang: str, code: str) -> list[tuple[str, bool]]:
    """Shell commands a one-liner runs through system()/exec() and the like, as
    (command, fed with program output) pairs; plus the files it deletes or writes, as
    equivalent ``rm``/``:>>`` commands so that the same path rules judge them. A command only
    known at run time is `UNKNOWN` (the policy asks about it).

    Python is read with its own parser (`shell_python`); Perl, Ruby, JavaScript, PHP and Lua
    by `shell_langs`, which follows values; the other languages by patterns."""
    if lang == "python":
        # Imported here: only Python one-liners need the reader, not every command.
        from llmos._internal.security.shell_python import python_effects

        effects = python_effects(code)
        if effects is not None:
            return effects
    family = {"deno": "node", "pwsh": "python"}.get(lang, lang)
    out: list[tuple[str, bool]] = []
    if family in ("node", "ruby", "perl", "php", "lua"):
        from llmos._internal.security.shell_langs import program_effects

        out.extend(program_effects(family, code))
        if family in ("perl", "ruby", "php"):
            from llmos._internal.security.shell_langs import command_literal

            for m in _BACKTICK_CODE.finditer(code):
                out.append((command_literal(family, code, next(g for g in m.groups() if g)), False))
        return out
    if family == "tcl":
        return tcl_effects(code)
    if lang == "pwsh":
        out.extend(powershell_effects(code))
    sinks = _SHELL_SINKS.get(family)
    if sinks:
        pattern = re.compile(r"(?<!\w)(?:" + sinks + r")\s*\(?\s*(" + _ARGS + "|" + _LIST + ")")
        for m in pattern.finditer(code):
            out.append((_call_arguments(m.group(1)), False))
        if family in ("r", "python") and re.search(
            r"(?<![\w.])(?:" + sinks + r")\s*\(\s*[A-Za-z_$]", code
        ):
            out.append((UNKNOWN, False))  # a command built at run time
    if family == "awk":
        out.extend(awk_commands(code))
        for m in _AWK_PIPE.finditer(code):
            if m.group(1):  # print | "command": the command reads awk's output
                out.append((_unquote_literal(m.group(1)), True))
            else:  # "command" | getline
                out.append((_unquote_literal(m.group(2)), False))
    if family == "vim":  # an ex command; `:!cmd` runs the rest of the line, | included
        bang = re.search(r"(?:^|\|)\s*:?\s*!(.*)", code, re.S)
        out.extend([(bang.group(1), False)] if bang else [])
    for m in [*_DELETE_CALL.finditer(code), *_PATH_DELETE.finditer(code)]:
        out.append(("rm -rf -- " + _quote_path(_unquote_literal(m.group(1))), False))
    for m in _WRITE_CALL.finditer(code):
        path = m.group(1) or m.group(2)
        out.append((": >> " + _quote_path(_unquote_literal(path)), False))
    return out


_PWSH_DELETE = LazyRegex(
    r"(?i)(?:^|[;|{(]\s*|\s)(?:Remove-Item|ri|rm|del|erase|rmdir|rd)\s+((?:-\w+\s+)*)"
    r"(?:-(?:Path|LiteralPath)\s+)?(['\"]?)([^'\";|}\s]+)\2"
)
_PWSH_RUN = LazyRegex(r"(?i)(?:Invoke-Expression|iex|Start-Process|saps)\s+(['\"])(.*?)\1")
_PWSH_WRITE = LazyRegex(
    r"(?i)(?:Set-Content|Add-Content|Out-File|sc|ac)\s+(?:-(?:Path|FilePath|LiteralPath)\s+)?"
    r"(['\"]?)([^'\";|}\s]+)\1"
)


def powershell_effects(code: str) -> list[tuple[str, bool]]:
    """PowerShell's cmdlets that delete, write or run: Remove-Item, Set-Content,
    Invoke-Expression, Start-Process; ``~``, ``$HOME`` and ``$env:HOME`` are the home folder."""

    def path(text: str) -> str:
        text = re.sub(r"(?i)^\$(env:)?(HOME|USERPROFILE)\b", "~", text)
        return UNKNOWN if text.startswith("$") else text

    out: list[tuple[str, bool]] = []
    for m in _PWSH_DELETE.finditer(code):
        out.append(("rm -rf -- " + _quote_path(path(m.group(3))), False))
    for m in _PWSH_WRITE.finditer(code):
        out.append((": >> " + _quote_path(path(m.group(2))), False))
    for m in _PWSH_RUN.finditer(code):
        out.append((m.group(2), False))
    return out


def _quote_path(text: str) -> str:
    from llmos._internal.security.shell_python import quote

    return quote(text)


_AWK_TOKEN = LazyRegex(r'"((?:[^"\\]|\\.)*)"|ENVIRON\[\s*"(\w+)"\s*\]|[^\s"]+')


def awk_commands(code: str) -> list[tuple[str, bool]]:
    """awk's system(...) with its argument built by juxtaposition: ``"rm -rf " ENVIRON["HOME"]``
    (string literals and the home folder kept, anything else run-time)."""
    from llmos._internal.security.shell_langs import call_arguments

    out: list[tuple[str, bool]] = []
    strings = {  # name = "literal" (the last one wins)
        m.group(1): m.group(2) for m in re.finditer(r'\b(\w+)\s*=\s*("(?:[^"\\]|\\.)*")', code)
    }
    for m in re.finditer(r"(?<![\w.])system\s*\(", code):
        args = call_arguments(code, m.end())
        if not args:
            continue
        pieces = []
        expression = args[0]
        if re.fullmatch(r'\s*"(?:[^"\\]|\\.)*"\s*', expression):
            continue  # a literal: read with the other string sinks
        for name, literal in strings.items():
            expression = re.sub(
                rf"(?<![\w\"]){name}(?![\w\"])", literal.replace("\\", r"\\"), expression
            )
        for token in _AWK_TOKEN.finditer(expression):
            literal, variable = token.group(1), token.group(2)
            if literal is not None:
                pieces.append(_unquote_literal(f'"{literal}"'))
            elif variable is not None:
                pieces.append("~" if variable == "HOME" else UNKNOWN)
            else:
                pieces.append(UNKNOWN)
        out.append(("".join(pieces), False))
    return out


_TCL_RUNS = LazyRegex(r"(?:^|[;\n\[{])\s*(spawn|exec|system|send)\s+([^;\n\]}]*)")


def tcl_effects(code: str) -> list[tuple[str, bool]]:
    """Tcl and expect: ``exec``/``spawn``/``system`` run a program, ``send`` types text into
    the program spawned (a shell, most often)."""
    out: list[tuple[str, bool]] = []
    for m in _TCL_RUNS.finditer(code):
        verb, rest = m.group(1), m.group(2).strip()
        try:
            words = shlex.split(rest.replace("{", "'").replace("}", "'"))
        except ValueError:
            words = rest.split()
        while words and words[0].startswith("-") and words[0] != "-":
            words.pop(0)  # -noecho, -ignorestderr, --
        if not words:
            continue
        if verb == "send":
            text = " ".join(words).replace("\\r", "\n").replace("\\n", "\n")
            out.append((text, False))
        elif verb == "system":
            out.append((" ".join(words), False))
        else:
            out.append((" ".join(shlex.quote(w) for w in words), False))
    return out
