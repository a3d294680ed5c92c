"""What a Perl, Ruby, Node (JavaScript), PHP or Lua program does to the system, read by
patterns: the commands it runs and the files it deletes, writes, reads, copies, links or
changes the mode of, turned into equivalent shell text (as `shell_python` does for Python with
Python's own parser) so that the same rules judge ``FileUtils.rm_rf(Dir.home)`` and
``rm -rf ~``.

Values are followed, not only literals: string literals with their interpolation
(``"#{dir}"``, ``"$ENV{HOME}/x"``, `` `${os.homedir()}` ``), concatenation (``+``, ``.``,
``..``), variables assigned earlier in the program, the home folder however it is asked for
(``Dir.home``, ``$ENV{HOME}``, ``os.homedir()``, ``process.env.HOME``, ``getenv("HOME")``),
path joins and expansions (``path.join``, ``File.join``, ``File.expand_path``, ``catfile``),
globs, loop variables (a literal list read item by item) and argv lists. What only the run
knows becomes `UNKNOWN` (a command whose name is unknown is then asked about, never allowed).
"""

from __future__ import annotations

import re

from llmos._internal.security.shell_python import quote
from llmos._internal.security.shell_types import UNKNOWN

_MAX_DEPTH = 6
_CONCAT = {"node": ("+",), "ruby": ("+",), "perl": (".",), "php": (".",), "lua": ("..",)}

_HOME = {
    "node": r"(?:require\(\s*['\"](?:node:)?os['\"]\s*\)|\bos)\.homedir\(\s*\)"
    r"|process\.env\.HOME\b|process\.env\[\s*['\"]HOME['\"]\s*\]"
    r"|Deno\.env\.get\(\s*['\"]HOME['\"]\s*\)|Bun\.env\.HOME\b",
    "ruby": r"Dir\.home(?:\(\s*\))?|ENV\[\s*['\"]HOME['\"]\s*\]"
    r"|ENV\.fetch\(\s*['\"]HOME['\"][^)]*\)|Etc\.getpwuid(?:\([^)]*\))?\.dir|Gem\.user_home",
    "perl": r"\$ENV\{\s*['\"]?HOME['\"]?\s*\}|File::HomeDir->my_home"
    r"|\(\s*getpwuid\s*\(?\s*\$<\s*\)?\s*\)\s*\[\s*7\s*\]",
    "php": r"getenv\(\s*['\"]HOME['\"]\s*\)|\$_(?:SERVER|ENV)\[\s*['\"]HOME['\"]\s*\]",
    "lua": r"os\.getenv\(\s*['\"]HOME['\"]\s*\)",
}
_CWD = {
    "node": r"process\.cwd\(\s*\)|__dirname",
    "ruby": r"Dir\.pwd|Dir\.getwd|__dir__",
    "perl": r"getcwd\(\s*\)|cwd\(\s*\)|Cwd::\w+\(\s*\)",
    "php": r"getcwd\(\s*\)|__DIR__",
    "lua": r"(?!)",  # Lua has no working-folder call
}
_ENV_VAR = {
    "node": r"process\.env(?:\.(\w+)|\[\s*['\"](\w+)['\"]\s*\])",
    "ruby": r"ENV(?:\[\s*['\"](\w+)['\"]\s*\]|\.fetch\(\s*['\"](\w+)['\"][^)]*\))",
    "perl": r"\$ENV\{\s*['\"]?(\w+)['\"]?\s*\}()",
    "php": r"(?:getenv\(\s*['\"](\w+)['\"]\s*\)|\$_(?:SERVER|ENV)\[\s*['\"](\w+)['\"]\s*\])",
    "lua": r"os\.getenv\(\s*['\"](\w+)['\"]\s*\)()",
}
# Calls whose value is a path built from their arguments: joined, or the first one as is.
_JOIN = re.compile(
    r"(?:(?:^|\.)(?:join|resolve)|File\.join|File::Spec->(?:catfile|catdir)|catfile|catdir"
    r"|Path\.join|File\.expand_path|Pathname\.new|Pathname|path\.normalize|realpath"
    r"|File\.absolute_path|String|Dir\.glob|Dir|glob|bsd_glob|expand_path)$"
)
_REQUIRE = re.compile(r"require\(\s*['\"](?:node:)?([\w/]+?)(?:/promises)?['\"]\s*\)")
_TMP = re.compile(r"(?:os\.tmpdir\(\s*\)|Dir\.tmpdir|sys_get_temp_dir\(\s*\))$")

# Sinks: (kind, pattern of the callee). Kinds: shell (a command line, or argv when given
# several arguments or a list), argv (a program and its arguments), delete, write, read,
# copy, move, link, chmod.
_SINKS: dict[str, list[tuple[str, str]]] = {
    "node": [
        ("shell", r"exec|execSync|execaCommand(?:Sync)?"),
        ("argv", r"execFile|execFileSync|spawn|spawnSync|fork|execa(?:Sync)?|Bun\.spawn(?:Sync)?"),
        (
            "delete",
            r"rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink|removeSync|remove|emptyDirSync"
            r"|emptyDir|deleteSync|rimraf(?:\.sync)?|rimrafSync|del",
        ),
        (
            "write",
            r"writeFileSync|appendFileSync|writeFile|appendFile|createWriteStream"
            r"|outputFileSync|outputFile",
        ),
        ("read", r"readFileSync|readFile|createReadStream"),
        ("copy", r"copyFileSync|copyFile|cpSync|copySync"),
        ("move", r"renameSync|rename|moveSync"),
        ("link", r"symlinkSync|symlink|linkSync|ensureSymlinkSync"),
        ("chmod", r"chmodSync|chmod"),
    ],
    "ruby": [
        (
            "shell",
            r"system|exec|spawn|Kernel\.system|Kernel\.exec|Kernel\.spawn|Process\.spawn"
            r"|IO\.popen|Open3\.\w+|PTY\.spawn",
        ),
        (
            "delete",
            r"FileUtils\.(?:rm_rf|rm_r|rm_f|rm|remove_dir|remove_entry_secure|remove_entry"
            r"|remove|rmtree|rmdir)|File\.(?:delete|unlink)|Dir\.(?:rmdir|delete|unlink)"
            r"|rm_rf|rm_r|rmtree",
        ),
        ("write", r"File\.write|IO\.write|File\.binwrite|FileUtils\.touch"),
        ("read", r"File\.read|IO\.read|File\.readlines|IO\.readlines|File\.binread"),
        ("copy", r"FileUtils\.(?:cp_r|cp|copy_entry|copy|install)"),
        ("move", r"FileUtils\.(?:mv|move)|File\.rename"),
        ("link", r"File\.symlink|File\.link|FileUtils\.(?:ln_sf|ln_s|ln)"),
        ("chmod", r"File\.chmod|FileUtils\.chmod(?:_R)?"),
    ],
    "perl": [
        ("shell", r"system|exec"),
        ("delete", r"(?:File::Path::)?(?:rmtree|remove_tree)|unlink|rmdir"),
        ("copy", r"(?:File::Copy::)?copy|cp"),
        ("move", r"(?:File::Copy::)?move|mv|rename"),
        ("link", r"symlink|link"),
        ("chmod", r"chmod"),
    ],
    "php": [
        ("shell", r"system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec"),
        ("delete", r"unlink|rmdir"),
        ("write", r"file_put_contents"),
        ("read", r"file_get_contents|readfile|file"),
        ("copy", r"copy"),
        ("move", r"rename"),
        ("link", r"symlink|link"),
        ("chmod", r"chmod"),
    ],
    "lua": [
        ("shell", r"os\.execute|io\.popen"),
        ("delete", r"os\.remove"),
        ("move", r"os\.rename"),
    ],
}
_OPEN = {
    "perl": r"(?<![\w$>])open\b\s*(\()?",
    "ruby": r"(?<![\w$])(?:File\.open|IO\.open|Kernel\.open|open)\b\s*(\()?(?=\s*[\"'\w$])",
    "php": r"(?<![\w$])fopen\s*(\()",
    "lua": r"io\.open\s*(\()",
}
# Node's exec/spawn are child_process's only when the program uses it (RegExp#exec is not).
_NODE_PROCESSES = re.compile(r"child_process|execa|shelljs|\bzx\b|Bun\.spawn")
_SINK_RE: dict[str, re.Pattern[str]] = {}


def command_literal(lang: str, code: str, body: str) -> str:
    """The command of a backtick literal of a `lang` program, its interpolations followed."""
    return _Program(lang, code).command_literal(body)


def program_effects(lang: str, code: str) -> list[tuple[str, bool]]:
    """(shell text, fed with program output) for each effect of a `lang` program (node, ruby,
    perl, php, lua)."""
    return _Program(lang, code).effects()


class _Program:
    def __init__(self, lang: str, code: str) -> None:
        self.lang = lang
        self.code = code
        self.values = _assignments(lang, code)
        # loop variables over a literal list: each call using one is read once per item
        self.lists = {
            name: items
            for name, expr in self.values.items()
            if (items := _list_items(expr.strip())) is not None
        }
        self.out: list[tuple[str, bool]] = []

    # -- values ------------------------------------------------------------------------------

    def value(self, expr: str, depth: int = 0) -> str:
        """The text an expression evaluates to, `UNKNOWN` for what only the run knows."""
        expr = _REQUIRE.sub(r"\1", _strip_parens(expr.strip()))
        if not expr or depth > _MAX_DEPTH:
            return UNKNOWN
        parts = _split_top(expr, _CONCAT[self.lang])
        if len(parts) > 1:
            return "".join(self.value(p, depth + 1) for p in parts)
        lang = self.lang
        if expr[0] in "'\"`" and _closes(expr):
            return self.literal(expr, depth)
        if lang == "lua" and expr.startswith("[[") and expr.endswith("]]"):
            return expr[2:-2]
        if re.fullmatch(_HOME[lang], expr):
            return "~"
        if re.fullmatch(_CWD[lang], expr):
            return "."
        env = re.fullmatch(_ENV_VAR[lang], expr)
        if env:
            return UNKNOWN
        if _TMP.match(expr):
            return "/tmp"
        if re.fullmatch(r"-?\d+", expr):
            return expr
        method = re.fullmatch(r"(.+?)\s*\.\s*(?:to_s|toString\(\s*\)|to_path|strip|chomp)", expr)
        if method:
            return self.value(method.group(1), depth + 1)
        call = re.fullmatch(r"([\w.:$>-]+?)\s*(?:\((.*)\)|\[(.*)\])", expr, re.S)
        if call and re.search(
            r"(readdirSync|readdir|listdir|scandir|entries|children)$", call.group(1)
        ):
            inner = [self.value(a, depth + 1) for a in _split_top(call.group(2) or "", (","))]
            return _join([inner[0], "*"]) if inner else UNKNOWN
        if call and _JOIN.search(call.group(1)):
            args = [
                self.value(a, depth + 1)
                for a in _split_top(call.group(2) or call.group(3) or "", (","))
            ]
            return _join(args) if args else UNKNOWN
        if call and call.group(1).endswith("basename"):
            return UNKNOWN
        name = re.fullmatch(r"[$@]?(\w+)", expr)
        if name and name.group(1) in self.values:
            return self.value(self.values[name.group(1)], depth + 1)
        return UNKNOWN

    def literal(self, expr: str, depth: int) -> str:
        quote_char, body = expr[0], expr[1:-1]
        lang = self.lang
        if quote_char == "'" or (lang == "lua"):
            return re.sub(r"\\(['\\])", r"\1", body) if lang != "lua" else _unescape(body)
        if quote_char == "`" and lang == "node":
            return self.interpolate(body, r"\$\{((?:[^{}]|\{[^{}]*\})*)\}", depth)
        if quote_char == "`":  # ruby, perl, php: a command's output
            return UNKNOWN
        if lang == "ruby":
            return self.interpolate(body, r"#\{((?:[^{}]|\{[^{}]*\})*)\}", depth)
        if lang in ("perl", "php"):
            return self.interpolate(
                body, r"\{?(\$ENV\{[^}]*\}|\$\w+(?:\[[^\]]*\]|->\w+)*|@\w+)\}?", depth
            )
        return _unescape(body)

    def command_literal(self, body: str) -> str:
        """The command of a backtick or ``%x()`` / ``qx{}`` literal, interpolated as a
        double-quoted string of the language is."""
        return self.literal('"' + body.replace('"', '\\"') + '"', 0)

    def interpolate(self, body: str, pattern: str, depth: int) -> str:
        out, last = [], 0
        for m in re.finditer(pattern, body):
            out.append(_unescape(body[last : m.start()]))
            inner = m.group(1)
            simple = re.fullmatch(r"\$(\w+)", inner)
            if self.lang in ("perl", "php") and not simple and not inner.startswith("$ENV"):
                out.append(UNKNOWN)
            else:
                out.append(self.value(inner, depth + 1))
            last = m.end()
        out.append(_unescape(body[last:]))
        return "".join(out)

    def words(self, args: list[str]) -> list[str]:
        """The argv a call's arguments make: a list literal, or each argument."""
        if len(args) >= 1 and args[0].strip()[:1] in "[(" and len(args) <= 2:
            first = _strip_brackets(args[0].strip())
            if first is not None:
                return [self.value(a) for a in _split_top(first, (","))]
        return [self.value(a) for a in args]

    # -- effects -----------------------------------------------------------------------------

    def effects(self) -> list[tuple[str, bool]]:
        lang, code = self.lang, self.code
        pattern = _sinks(lang)
        for m in pattern.finditer(code):
            kind = next(k for k, v in m.groupdict().items() if v is not None)
            if kind in ("shell", "argv") and lang == "node" and not _NODE_PROCESSES.search(code):
                continue
            args = _arguments(code, m.end(), paren=m.group(0).rstrip().endswith("("))
            if not args:
                continue
            looped = next((n for n in self.lists if re.search(rf"(?<![\w]){n}\b", args[0])), None)
            if looped is None:
                self.effect(kind, args)
                continue
            for item in self.lists[looped][:8]:
                self.values[looped] = item
                self.effect(kind, args)
        if lang == "node" and re.search(r"\bzx\b|Bun\.\$", code):  # $`cmd`: a shell command
            for m in re.finditer(r"(?<![\w$])(?:Bun\.)?\$(`(?:[^`\\]|\\.)*`)", code):
                self.out.append((self.literal(m.group(1), 0), False))
        if lang == "php":  # array_map('unlink', glob(...)): a function named by a string
            for m in re.finditer(
                r"array_(?:map|walk)\s*\(\s*['\"](unlink|rmdir|system|exec)['\"]\s*,", code
            ):
                args = _arguments(code, m.end(), paren=False)
                kind = "delete" if m.group(1) in ("unlink", "rmdir") else "shell"
                if args:
                    self.effect(kind, [_strip_call_end(args[0])])
        self.opens()
        return self.out

    def opens(self) -> None:
        """open() in its forms: a file read or written, or (Perl, Ruby) a command piped."""
        pattern = _OPEN.get(self.lang)
        if pattern is None:
            return
        for m in re.finditer(pattern, self.code):
            args = _arguments(self.code, m.end(), paren=bool(m.group(1)))
            if self.lang == "perl":
                args = args[1:]  # the file handle
            if not args:
                continue
            values = [self.value(a) for a in args]
            if self.lang == "perl" and len(values) >= 2 and values[0].strip() in ("-|", "|-"):
                words = values[1:]
                text = words[0] if len(words) == 1 else " ".join(quote(w) for w in words)
                self.out.append((text, values[0].strip() == "|-"))
                continue
            if self.lang == "perl" and len(values) == 1:
                spec = values[0].strip()
                prefix = re.match(r"\+?[<>]{1,2}|\|", spec)
                if spec.endswith("|") or spec.startswith("|"):  # "|cmd" reads what we print
                    self.out.append((spec.strip("|").strip(), spec.startswith("|")))
                    continue
                values = [
                    prefix.group(0) if prefix else "<",
                    spec[prefix.end() if prefix else 0 :].strip(),
                ]
            elif self.lang == "perl":
                values = values[:2]
            else:
                if self.lang == "ruby" and values[0].startswith("|"):
                    self.out.append((values[0][1:].strip(), True))
                    continue
                values = [values[1] if len(values) > 1 else "r", values[0]]
            mode, path = values[0].strip(), values[1]
            writes = ">" in mode or re.search(r"[wa+]", mode) is not None or UNKNOWN in mode
            self.out.append(((": >> " if writes else "cat -- ") + quote(path), False))

    def effect(self, kind: str, args: list[str]) -> None:
        add = self.out.append
        if kind == "shell" and len(args) == 1 and args[0].strip()[:1] not in "[(":
            add((self.value(args[0]), False))
            return
        if kind in ("shell", "argv"):
            words = self.words(args)
            if kind == "argv" and len(args) >= 2:  # spawn(cmd, [args], {shell: true})
                rest = _strip_brackets(args[1].strip())
                if rest is not None:
                    words = [self.value(args[0]), *(self.value(a) for a in _split_top(rest, (",")))]
                if any(re.search(r"shell\s*:\s*true", a) for a in args[1:]):
                    add((" ".join(w for w in words), False))
                    return
            text = " ".join(quote(w) for w in words if w != "") or UNKNOWN
            add((text, False))
            return
        paths = [self.value(a) for a in args]
        if kind == "delete":
            targets = paths if self.lang in ("perl", "ruby") else paths[:1]
            if args[0].strip()[:1] in "[(":  # a list of paths: [a, b] or (a, b)
                inner = _strip_brackets(args[0].strip()) or ""
                targets = [self.value(a) for a in _split_top(inner, (","))]
            for p in targets:
                if not re.fullmatch(r"\{.*\}|[\d\s]+|true|false", p):
                    add(("rm -rf -- " + quote(p), False))
        elif kind == "write":
            target = paths[0]
            if len(args) >= 2 and UNKNOWN not in paths[1]:
                add((f"printf %s {quote(paths[1])} > {quote(target)}", False))
            else:
                add((f": >> {quote(target)}", False))
        elif kind == "read":
            add((f"cat -- {quote(paths[0])}", False))
        elif kind in ("copy", "move") and len(paths) >= 2:
            verb = "cp -r --" if kind == "copy" else "mv --"
            add((f"{verb} {quote(paths[0])} {quote(paths[1])}", False))
        elif kind == "link" and len(paths) >= 2:
            add((f"ln -s -- {quote(paths[0])} {quote(paths[1])}", False))
        elif kind == "chmod" and len(paths) >= 2:
            mode, path = (
                (paths[0], paths[1]) if self.lang in ("ruby", "perl") else (paths[1], paths[0])
            )
            mode = _octal(mode)
            add((f"chmod {mode} {quote(path)}", False))


def _strip_call_end(arg: str) -> str:
    """An argument taken to the end of a statement, without the caller's closing bracket."""
    arg = arg.strip()
    while arg.endswith(")") and _balance(arg) < 0:
        arg = arg[:-1].rstrip()
    return arg


def _balance(text: str) -> int:
    """Opening minus closing brackets of `text`, outside string literals."""
    depth, j = 0, 0
    while j < len(text):
        c = text[j]
        if c in "'\"`":
            j = _skip_string(text, j)
            continue
        depth += c in "([{"
        depth -= c in ")]}"
        j += 1
    return depth


def _list_items(expr: str) -> list[str] | None:
    """The items of a list literal (``[a, b]``, ``(a, b)``, ``%w[a b]``, ``qw(a b)``)."""
    if expr.startswith("qw"):
        body = re.fullmatch(r"qw\s*[(\[{/](.*)[)\]}/]", expr, re.S)
        return [repr(w) for w in body.group(1).split()] if body else None
    inner = _strip_brackets(expr)
    if inner is None or not (expr.startswith("[") or expr.startswith("%w") or "," in inner):
        return None
    return [item for item in _split_top(inner, (",")) if item.strip()]


def _octal(mode: str) -> str:
    if re.fullmatch(r"0o?[0-7]{3,4}", mode):
        return mode.replace("o", "")
    if re.fullmatch(r"\d+", mode):
        return f"{int(mode):04o}" if int(mode) > 0o777 or not mode.startswith("0") else mode
    return UNKNOWN


def _sinks(lang: str) -> re.Pattern[str]:
    """One pattern for every sink of `lang`, a named group per kind."""
    if lang not in _SINK_RE:
        by_kind: dict[str, list[str]] = {}
        for kind, pattern in _SINKS[lang]:
            by_kind.setdefault(kind, []).append(pattern)
        groups = "|".join(f"(?P<{kind}>{'|'.join(ps)})" for kind, ps in by_kind.items())
        after = r"\s*\(" if lang == "node" else r"(?:\s*\(|[ \t]+(?=[\"'$\[\w(`]))"
        _SINK_RE[lang] = re.compile(r"(?<![\w$])(?:" + groups + r")" + after)
    return _SINK_RE[lang]


# ------------------------------------------------------------------------ reading the text


def _assignments(lang: str, code: str) -> dict[str, str]:
    """Simple assignments of the program, the last one of each name winning."""
    if lang == "perl":
        pattern = r"(?:\b(?:my|our|local)\s*)?\$(\w+)\s*=(?![=~>])"
    elif lang == "php":
        pattern = r"\$(\w+)\s*=(?![=>])"
    elif lang == "node":
        pattern = r"(?:\b(?:const|let|var)\s+)?\b([A-Za-z_$][\w$]*)\s*=(?![=>])"
    elif lang == "lua":
        pattern = r"(?:\blocal\s+)?\b([A-Za-z_]\w*)\s*=(?!=)"
    else:
        pattern = r"(?<![.:@$\w])([a-z_]\w*|[A-Z]\w*)\s*=(?![=~>])"
    out: dict[str, str] = {}
    for m in re.finditer(pattern, code):
        end = _statement_end(code, m.end())
        out[m.group(1)] = code[m.end() : end]
    # A loop variable stands for what it iterates over (a glob stays a glob: every entry).
    for loop in _LOOPS.get(lang, ()):
        for m in re.finditer(loop, code):
            collection, name = m.group("of"), m.group("var")
            out[name] = collection
    return out


_LOOPS = {
    "ruby": (r"(?P<of>\[[^\[\]]*\]|%w\[[^\]]*\]"
             r"|[\w.:]+(?:\((?:[^()]|\([^()]*\))*\)|\[[^\[\]]*\])?)"
             r"\.(?:each|each_entry|map|select)\s*(?:do|\{)\s*\|\s*(?P<var>\w+)\s*\|",),
    "node": (r"(?P<of>\[[^\[\]]*\]|[\w.$]+(?:\([^()]*(?:\([^()]*\))?[^()]*\))?)"
             r"\.(?:forEach|map|filter)\(\s*(?:async\s*)?\(?\s*(?P<var>\w+)\s*\)?\s*=>",
             r"for\s*\(\s*(?:const|let|var)\s+(?P<var>\w+)\s+of\s+(?P<of>[^)]+)\)"),
    "perl": (r"for(?:each)?\s+my\s+\$(?P<var>\w+)\s*\((?P<of>(?:[^()]|\([^()]*\))*)\)",),
    "php": (r"foreach\s*\((?P<of>.+?)\s+as\s+\$(?P<var>\w+)\s*\)",),
    "lua": (),
}  # fmt: skip


def _statement_end(code: str, i: int) -> int:
    depth, j = 0, i
    while j < len(code):
        c = code[j]
        if c in "'\"`":
            j = _skip_string(code, j)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return j
            depth -= 1
        elif c in ";\n" and depth == 0:
            return j
        j += 1
    return j


def _skip_string(code: str, i: int) -> int:
    """Index just after the string literal that starts at `code[i]`, its interpolations
    (``#{..}`` in double quotes, ``${..}`` in backticks) skipped whole."""
    q, j = code[i], i + 1
    while j < len(code) and code[j] != q:
        if code[j] == "\\":
            j += 2
        elif (q == '"' and code.startswith("#{", j)) or (q == "`" and code.startswith("${", j)):
            j = _close_brace(code, j + 1)
        else:
            j += 1
    return j + 1


def _close_brace(code: str, j: int) -> int:
    depth = 0
    while j < len(code):
        c = code[j]
        if c in "'\"`":
            j = _skip_string(code, j)
            continue
        depth += c == "{"
        depth -= c == "}"
        j += 1
        if depth == 0:
            return j
    return j


def call_arguments(code: str, start: int) -> list[str]:
    """The arguments of the call whose opening parenthesis ends at `start`."""
    return _arguments(code, start, paren=True)


def _arguments(code: str, start: int, *, paren: bool) -> list[str]:
    """The arguments of a call whose name ends at `start`: up to the matching parenthesis,
    or (without one, as in Perl and Ruby) to the end of the statement."""
    if paren:
        depth, j = 1, start
        while j < len(code) and depth:
            c = code[j]
            if c in "'\"`":
                j = _skip_string(code, j)
                continue
            depth += c in "([{"
            depth -= c in ")]}"
            j += 1
        body = code[start : j - 1]
    else:
        end = _statement_end(code, start)
        body = re.split(r"\s+(?:if|unless|or|and|do)\b", code[start:end])[0]
    return [a for a in _split_top(body, (",")) if a.strip()]


def _split_top(text: str, ops: tuple[str, ...] | str) -> list[str]:
    """`text` cut at the operators `ops` that are outside quotes and brackets."""
    ops = (ops,) if isinstance(ops, str) else ops
    parts, depth, last, j = [], 0, 0, 0
    while j < len(text):
        c = text[j]
        if c in "'\"`":
            j = _skip_string(text, j)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            op = next((o for o in ops if text.startswith(o, j)), None)
            if op is not None and not (op == "." and _is_method_dot(text, j)):
                parts.append(text[last:j])
                j += len(op)
                last = j
                continue
        j += 1
    parts.append(text[last:])
    return parts


def _is_method_dot(text: str, j: int) -> bool:
    """Perl and PHP concatenate with `.`, unless it is part of a number or `..` / `->`."""
    before, after = text[j - 1 : j], text[j + 1 : j + 2]
    return (before.isdigit() and after.isdigit()) or after == "." or before == "."


def _strip_parens(expr: str) -> str:
    while expr.startswith("(") and expr.endswith(")") and _matching(expr) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def _strip_brackets(expr: str) -> str | None:
    if expr[:1] in "[(" and _matching(expr) == len(expr) - 1:
        return expr[1:-1]
    if expr.startswith("%w[") and expr.endswith("]"):
        return ",".join(repr(w) for w in expr[3:-1].split())
    return None


def _matching(expr: str) -> int:
    depth, j = 0, 0
    while j < len(expr):
        c = expr[j]
        if c in "'\"`":
            j = _skip_string(expr, j)
            continue
        depth += c in "([{"
        depth -= c in ")]}"
        if depth == 0:
            return j
        j += 1
    return -1


def _closes(expr: str) -> bool:
    return len(expr) >= 2 and _skip_string(expr, 0) == len(expr)


def _unescape(text: str) -> str:
    simple = {"n": "\n", "t": "\t", "r": "", "\\": "\\", '"': '"', "'": "'", "$": "$", "`": "`"}
    return re.sub(r"\\(.)", lambda m: simple.get(m.group(1), m.group(1)), text)


def _join(parts: list[str]) -> str:
    out = parts[0]
    for part in parts[1:]:
        if part.startswith("/") or part == "~" or part.startswith("~/"):
            out = part
        else:
            out = out.rstrip("/") + "/" + part if out else part
    return out
