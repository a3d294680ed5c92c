"""The walker: reads bashlex's tree of a command line (lists, pipelines, compound commands,
loops, functions, redirections, substitutions) and records each simple command it would run,
with its arguments expanded (`shell_words`) and its standard input's origin."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from llmos._internal.security.bashlex_parser import bashlex
from llmos._internal.security.shell_prepass import Prepared
from llmos._internal.security.shell_tables import (
    NETWORK_TOOLS,
    endless_output,
    find_roots,
    is_decoder,
    iter_nodes,
    lists_every_process,
    passes_lines_through,
    quote_word,
    text_source,
)
from llmos._internal.security.shell_types import (
    SEVERITY,
    UNKNOWN,
    Analysis,
    Arg,
    Call,
    Command,
    Finding,
    Function,
    Redirect,
    ShellAnalysisError,
    Source,
    SourceKind,
    State,
    Val,
    resolve_path,
)
from llmos._internal.security.shell_words import Lexer, brace_expand, echo_text, printf_text

Handler = Callable[[str, list[Arg], Call], None]


class Walker:
    """Walks bashlex's tree of one command line and records every simple command it would run.

    The commands that run other code (shells, eval, xargs, interpreters...) and wrappers are
    handled by `llmos._internal.security.shell_runners.Analyzer`, through `unwrap` and `handler`."""

    def __init__(self, home: str, max_depth: int) -> None:
        self.home = home
        self.max_depth = max_depth
        self.result = Analysis()
        self.budget = 2000
        self.calling: set[str] = set()  # the functions being called (no endless recursion)
        self.defined: list[tuple[Function, State, int]] = []  # functions, for `finish`
        self.called: set[int] = set()  # the bodies walked by a call (by id)

    # -- entry points --------------------------------------------------------------------

    def run(self, text: str, state: State, depth: int, stdin: Source | None) -> Source:
        """Parse and walk `text` as a script; return what it writes to standard output."""
        if depth > self.max_depth:
            raise ShellAnalysisError("commands nested too deeply")
        prepared = Prepared(text.replace(UNKNOWN, "${__llmos_unknown__}"))
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
        self, node: Any, unit: Prepared, state: State, depth: int, stdin: Source | None
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
                for r in redirects:
                    if r.stdout and UNKNOWN not in r.target:
                        self.wrote(r, None, inner)
            out = Source("text")
            for part in node.list:
                if part.kind != "reservedword":
                    out = self.walk(part, unit, inner, depth, stdin)
            return Source("unknown") if out.kind == "text" and redirects else out
        if kind in ("if", "while", "until"):
            for part in node.parts:
                if part.kind not in ("reservedword", "operator"):
                    self.walk(part, unit, state, depth, stdin)
            if kind != "if" and _endless(node):
                if _spawns_in_background(node):
                    self.note(
                        "fork-bomb", f"an endless {kind} loop starts processes in the background"
                    )
                return Source("endless")
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
        self, node: Any, unit: Prepared, state: State, depth: int, stdin: Source | None
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
            state.env[var] = Val(item.text, item.taint)
            for part in body:
                self.walk(part, unit, state, depth, stdin)
        return Source("unknown")

    def function(self, node: Any, unit: Prepared, state: State, depth: int) -> None:
        name = node.name.word
        state.functions[name] = Function(node.body, unit)
        nodes = list(iter_nodes(node.body))
        calls_itself = any(
            n.kind == "command" and n.parts and getattr(n.parts[0], "word", None) == name
            for n in nodes
        )
        spawns = any(n.kind == "pipeline" or (n.kind == "operator" and n.op == "&") for n in nodes)
        if calls_itself and spawns:
            self.note("fork-bomb", f"function {name} calls itself in a pipeline or background")
        # Its body is read at each call, with the call's arguments (`finish` reads the bodies
        # no call reached, with unknown arguments).
        self.defined.append((state.functions[name], state.fork(), depth))

    def finish(self) -> None:
        """Read the functions that were defined but never called (trap, export -f, or a
        call the analysis did not see could still run them)."""
        for function, state, depth in self.defined:
            if id(function.body) in self.called:
                continue
            self.called.add(id(function.body))
            for k in range(10):
                state.env.pop(str(k), None)
            self.walk(function.body, function.unit, state, depth, None)

    def simple(
        self, node: Any, unit: Prepared, state: State, depth: int, stdin: Source | None
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
                variable = state.variable(name.rstrip("+"))
                cmd_state.env[variable] = Val(text, taint)
                assignments.append((variable, text))
                self.assigned(variable, Arg(text, taint), cmd_state, depth)
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
        call = Call(words, cmd_state, depth, stdin, redirects, assignments, cmd_state.via)
        call.text = unit.text[node.pos[0] : node.pos[1]]
        out = self.dispatch(call)
        if cmd_state is not state:  # cd / export inside a prefixed command still affect the shell
            state.cwd = cmd_state.cwd
        stdout = [r for r in redirects if r.stdout and UNKNOWN not in r.target]
        if out.kind == "network":
            state.downloads.update(resolve_path(r.target, state.cwd) for r in stdout)
        for r in stdout:
            self.wrote(r, out, state)
        return Source("text") if any(r.stdout for r in redirects) else out

    def wrote(self, r: Redirect, out: Source | None, state: State) -> None:
        """Remember what a redirection writes into a file (a script written, then run)."""
        if state.files is None or r.target.startswith("/dev/") or UNKNOWN in r.target:
            return
        text = out.text if out is not None and out.kind == "text" else None
        path = resolve_path(r.target, state.cwd)
        state.files.write(path, text, append=r.op == ">>")

    def assigned(self, name: str, value: Arg, state: State, depth: int) -> None:
        """A variable was set (some hold a command that programs run: PAGER, LESSOPEN...)."""

    def redirects(
        self, nodes: list[Any], unit: Prepared, state: State, depth: int, stdin: Source | None
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
                    stdin = text_source(args)
                continue
            if not hasattr(r.output, "pos"):  # 2>&1, 2>&- : descriptors, not files
                continue
            args = self.expand(r.output, unit, state, depth)
            if op == "<<<":
                stdin = text_source(args, suffix="\n")
                continue
            target = " ".join(a.text for a in args)
            if op in (">&", "<&") and re.fullmatch(r"\d+-?|-", target):
                continue
            fd = r.input if isinstance(getattr(r, "input", None), int) else None
            if op == "<" and fd in (None, 0):
                path = resolve_path(target, state.cwd) if UNKNOWN not in target else target
                stdin = args[0].source if args and args[0].source else Source("file", path)
            out.append(Redirect(op, target, fd))
        return stdin, out

    # -- word expansion ------------------------------------------------------------------

    def expand(self, node: Any, unit: Prepared, state: State, depth: int) -> list[Arg]:
        raw = unit.text[node.pos[0] : node.pos[1]]
        return self.expand_raw(raw, node.pos[0], node, unit, state, depth)

    def expand_raw(
        self,
        raw: str,
        base: int,
        node: Any,
        unit: Prepared,
        state: State,
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
        alternatives = brace_expand(raw) if split and "{" in raw else [raw]
        if len(alternatives) > 1:
            subs = {}
        out: list[Arg] = []
        for alt in alternatives:
            lexer = Lexer(self, alt, subs, unit, state, depth, split=split)
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
        unit: Prepared,
        state: State,
        depth: int,
        stdin: Source | None,
    ) -> Source:
        if inner is not None:
            return self.walk(inner, unit, state.fork(), depth, stdin)
        return self.run(text or "", state.fork(), depth + 1, stdin)

    def lookup(self, name: str, state: State) -> Val | None:
        name = state.variable(name)
        if name == "PWD":
            return Val(state.cwd)
        if name in ("@", "*"):
            values = [state.env[str(k)] for k in range(1, 10) if str(k) in state.env]
            if "1" not in state.env:
                return None
            return Val(
                " ".join(v.text for v in values), frozenset().union(*(v.taint for v in values))
            )
        return state.env.get(name)

    # -- simple commands -----------------------------------------------------------------

    def record(self, call: Call, name: str, program: str, args: list[Arg]) -> None:
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
                text=call.text or " ".join(a.text for a in call.argv),
                outer=call.state.outer,
                links=tuple(call.state.links.items()),
                script=call.state.script,
                origin=call.state.origin,
                remote=call.state.remote,
            )
        )

    def dispatch(self, call: Call) -> Source:
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
        if program in call.state.aliases:
            return self.alias(program, args, call)
        if program in call.state.functions:
            return self.call_function(program, args, call)
        if "/" in program and resolve_path(program, call.state.cwd) in call.state.downloads:
            self.note("pipe-to-shell", f"{program} was downloaded in this command and is then run")
        inner = self.unwrap(name, args, call)
        if inner is not None:
            if not inner:
                self.record(call, name, program, args)
                return Source("unknown")
            call.argv = inner
            call.via = (*call.via, name)
            return self.dispatch(call)
        handler = self.handler(name)
        if handler is not None:
            handler(name, args, call)
        elif "/" in program:
            self.executable(argv[0], args, call)
        self.record(call, name, program, args)
        return self.output(name, args, call)

    def alias(self, name: str, args: list[Arg], call: Call) -> Source:
        """An alias (``alias x='rm -rf ~'; x``): its text, then the arguments, read again.
        Agents' shells expand aliases, so they are always followed."""
        state = call.state.inside(f"alias {name}", outer=call.text)
        value = state.aliases.pop(name)  # an alias is not expanded inside itself
        try:
            text = " ".join([value, *(quote_word(a.text) for a in args)])
            out = self.run(text, state, call.depth + 1, call.stdin)
        finally:
            state.aliases[name] = value
        call.state.cwd = state.cwd
        return out

    def call_function(self, name: str, args: list[Arg], call: Call) -> Source:
        """A call of a function defined earlier: its body, with the call's arguments."""
        if name in self.calling or call.depth >= self.max_depth:
            return Source("unknown")
        function = call.state.functions[name]
        state = call.state.inside(name, outer=call.text)
        positional = [str(k) for k in range(1, 10)]
        saved = {k: state.env.get(k) for k in positional}
        for k in positional:
            state.env.pop(k, None)
        for k, arg in zip(positional, args, strict=False):
            state.env[k] = Val(arg.text, arg.taint)
        self.calling.add(name)
        self.called.add(id(function.body))
        try:
            out = self.walk(function.body, function.unit, state, call.depth + 1, call.stdin)
        finally:
            self.calling.discard(name)
            for k, v in saved.items():
                if v is None:
                    state.env.pop(k, None)
                else:
                    state.env[k] = v
        call.state.cwd = state.cwd
        return out

    def executable(self, program: Arg, args: list[Arg], call: Call) -> None:
        """A program run by its path (``./cleanup.sh``): read it, if it is a script."""

    def unwrap(self, name: str, args: list[Arg], call: Call) -> list[Arg] | None:
        """The wrapped command's argv if `name` is a wrapper ([] when it wraps nothing)."""
        return None

    def handler(self, name: str) -> Handler | None:
        """What to do first for a command that runs other code (a shell, eval, xargs...)."""
        return None

    def output(self, name: str, args: list[Arg], call: Call) -> Source:
        """What the command writes to standard output, as far as it matters."""
        texts = [a.text for a in args]
        taint = frozenset().union(*(a.taint for a in args))
        stdin_kind = call.stdin.kind if call.stdin else "text"
        if name in ("echo", "printf") and not taint:
            return Source("text", echo_text(list(texts)) if name == "echo" else printf_text(texts))
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
        if is_decoder(name, texts):
            return Source("network" if stdin_kind == "network" else "decoded")
        if name in NETWORK_TOOLS:
            return self.network(name, args, call)
        if name == "find":
            return Source("paths", "\n".join(find_roots(texts)))
        if lists_every_process(name, texts):
            return Source("processes")
        if stdin_kind == "processes" and passes_lines_through(name, texts):
            return Source("processes")
        if endless_output(name, texts, stdin_kind):
            return Source("endless")
        if name in ("cat", "tee", "head", "tail") and not [
            t for t in texts if not t.startswith("-")
        ]:
            return call.stdin or Source("unknown")
        files = [t for t in texts if not t.startswith("-")]
        one_file = len(files) == 1 and UNKNOWN not in files[0] and not taint
        if name == "cat" and one_file and not files[0].startswith(("/dev/", "/proc/")):
            return Source("file", resolve_path(files[0], call.state.cwd))  # cat FILE | sh
        kinds: list[SourceKind] = [
            "unknown",
            stdin_kind,
            *(t for t in ("network", "decoded") if t in taint),
        ]
        return Source(max(kinds, key=SEVERITY.__getitem__))

    def network(self, name: str, args: list[Arg], call: Call) -> Source:
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
                call.state.downloads.add(resolve_path(f, call.state.cwd))
        return Source("network")

    # -- commands that run other code ----------------------------------------------------


# -------------------------------------------------------------------------- endless loops

_ALWAYS = {"while": (["true"], [":"], ["[", "1", "]"], ["test", "1"]), "until": (["false"],)}
_ENDS_OR_WAITS = frozenset("break exit return wait sleep read".split())


def _first_words(node: Any) -> list[list[str]]:
    """The words of each simple command under `node`."""
    return [
        [p.word for p in n.parts if p.kind == "word"]
        for n in iter_nodes(node)
        if n.kind == "command"
    ]


def _endless(node: Any) -> bool:
    """Whether a while/until loop never ends on its own: a condition that always holds and
    no break or exit in its body."""
    keyword = node.parts[0].word
    parts = [p for p in node.parts if p.kind != "reservedword"]
    if len(parts) < 2:
        return False
    condition = _first_words(parts[0])
    if len(condition) != 1 or condition[0] not in _ALWAYS.get(keyword, ()):
        return False
    body = [w for part in parts[1:] for w in _first_words(part)]
    return not any(words[:1] and words[0] in ("break", "exit", "return") for words in body)


def _spawns_in_background(node: Any) -> bool:
    """Whether a loop's body leaves processes running (``&``) without ever waiting (a
    foreground sleep, wait or read)."""
    body = [p for p in node.parts if p.kind != "reservedword"][1:]
    background, waits = False, False
    for part in body:
        for n in iter_nodes(part):
            if n.kind != "list" and not (n is part and n.kind == "command"):
                continue
            items = n.parts if n.kind == "list" else [n]
            for k, item in enumerate(items):
                if item.kind == "operator":
                    continue
                follower = items[k + 1] if k + 1 < len(items) else None
                behind = follower is not None and follower.kind == "operator" and follower.op == "&"
                background = background or behind
                words = _first_words(item)
                if not behind and any(w[:1] and w[0] in _ENDS_OR_WAITS for w in words):
                    waits = True
    return background and not waits
