"""Commands that run other code, as the analysis sees them: wrappers (`sudo`, `env`, `timeout`,
`su -c`, `watch`...), shells and `-c` strings, `eval`, `source`, `trap`, `xargs`, `parallel`,
`find -exec`, and interpreter one-liners (`shell_code`). Each nested program is analysed in turn,
depth-limited."""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable

from llmos.security.shell_tables import (
    INTERPRETER,
    MAX_ITEMS,
    PARALLEL_VALUE,
    SHELLS,
    TMUX_RUNS,
    WRAPPERS,
    XARGS_VALUE,
    find_roots,
    has_url,
    input_items,
    join_args,
    skip_options,
)
from llmos.security.shell_types import (
    UNKNOWN,
    Arg,
    Call,
    ShellAnalysisError,
    Source,
    Val,
    resolve_path,
)
from llmos.security.shell_walker import Handler, Walker


class Analyzer(Walker):
    """The walker plus what it knows about commands that run other code."""

    def handler(self, name: str) -> Handler | None:
        found = _HANDLERS.get(name)
        if found is None and name in SHELLS:
            found = Analyzer.shell
        elif found is None and INTERPRETER.match(name):
            found = Analyzer.interpreter
        return functools.partial(found, self) if found is not None else None

    # -- wrappers ------------------------------------------------------------------------

    def unwrap(self, name: str, args: list[Arg], call: Call) -> list[Arg] | None:
        """The wrapped command's argv if `name` is a wrapper ([] when it wraps nothing)."""
        texts = [a.text for a in args]
        if name in WRAPPERS:
            skip, value_opts = WRAPPERS[name]
            i = skip_options(args, value_opts, skip)
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
            i = skip_options(args, frozenset({"-n", "--interval", "-q", "--equexit"}))
            if "-x" in texts[:i] or "--exec" in texts[:i]:
                return args[i:]
            if i < len(args):
                self.code_string(join_args(args[i:]), call, "watch")
            return []
        if name == "tmux" and TMUX_RUNS & set(texts) and args[-1].text not in TMUX_RUNS:
            self.code_string(args[-1], call, "tmux")  # new-session/split-window/... 'command'
            return []
        if name == "script" and "-c" in texts and texts.index("-c") + 1 < len(args):
            self.code_string(args[texts.index("-c") + 1], call, "script -c")
            return []
        return None

    def unwrap_env(self, args: list[Arg], call: Call) -> list[Arg] | None:
        i = 0
        while i < len(args):
            t = args[i].text
            if t in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string") and i + 1 < len(
                args
            ):
                value = args[i + 1]
                if t in ("-C", "--chdir") and UNKNOWN not in value.text:
                    call.state = call.state.fork()
                    call.state.cwd = resolve_path(value.text, call.state.cwd)
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
                call.state.env[name] = Val(value_text, args[i].taint)
                call.assignments.append((name, value_text))
                i += 1
            else:
                break
        return args[i:] or None

    # -- code given as text or on standard input ------------------------------------------

    def code_source(self, src: Source | None, lang: str, call: Call, what: str) -> None:
        """Judge a program read from `src` (stdin or a ``<(..)`` file) by `what` (bash, python)."""
        if src is None:
            return
        if src.kind == "text":
            if lang == "shell":
                self.run(src.text, call.state.fork(what, outer=call.text), call.depth + 1, None)
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

    def code_string(self, arg: Arg, call: Call, what: str) -> None:
        """A ``-c``/``eval`` string: check where it came from, then parse it as shell."""
        if self.tainted(arg, what):
            return
        state = call.state.fork(outer=call.text)
        state.via = (*call.via, what)
        self.run(arg.text, state, call.depth + 1, call.stdin)

    # -- commands that run other code ----------------------------------------------------

    def shell(self, name: str, args: list[Arg], call: Call) -> None:
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
                sub = Call(call.argv, call.state.fork(), call.depth, call.stdin, [], [], call.via)
                sub.text = call.text
                for k, a in enumerate(rest[1:11]):
                    sub.state.env[str(k)] = Val(a.text, a.taint)
                self.code_string(rest[0], sub, f"{name} -c")
        elif rest and not from_stdin:
            self.script_arg(rest[0], call, name, "shell")
        else:
            self.code_source(call.stdin, "shell", call, name)

    def script_arg(self, arg: Arg, call: Call, what: str, lang: str) -> None:
        if arg.source is not None:
            self.code_source(arg.source, lang, call, what)
        elif self.tainted(arg, what):
            return
        elif (
            UNKNOWN not in arg.text
            and resolve_path(arg.text, call.state.cwd) in call.state.downloads
        ):
            self.note("pipe-to-shell", f"{what} runs {arg.text}, downloaded in this command")

    def source_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if args:
            self.script_arg(args[0], call, name, "shell")

    def eval_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if args:
            self.code_string(join_args(args), call, "eval")

    def trap_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if len(args) >= 2 and not args[0].text.startswith("-"):
            self.code_string(args[0], call, "trap")

    def cd_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        targets = [a.text for a in args if not a.text.startswith("-")]
        target = targets[0] if targets else self.home
        if UNKNOWN not in target:
            call.state.cwd = os.path.normpath(os.path.join(call.state.cwd, target))

    def declare_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        for a in args:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", a.text, re.S)
            if m:
                call.state.env[m.group(1)] = Val(m.group(2), a.taint)
        if name == "unset":
            for a in args:
                if not a.text.startswith("-"):
                    call.state.env[a.text] = Val("")
        if name == "read":
            for a in args:
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a.text):
                    call.state.env[a.text] = Val(UNKNOWN)

    def xargs(self, name: str, args: list[Arg], call: Call) -> None:
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
            i += 2 if t in XARGS_VALUE else 1
        template = args[i:] or [Arg("echo")]
        items = input_items(call.stdin, "\n" if replace else delimiter)
        self.spawn(template, items, replace, call, "xargs", shell=False)

    def parallel(self, name: str, args: list[Arg], call: Call) -> None:
        i = skip_options(args, PARALLEL_VALUE)
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
            items = input_items(call.stdin, "\n")
        self.spawn(template, items, "{}", call, "parallel", shell=True)

    def spawn(
        self,
        template: list[Arg],
        items: list[Arg],
        replace: str | None,
        call: Call,
        via: str,
        *,
        shell: bool,
    ) -> None:
        """Run `template` once per input item, as xargs, parallel or find -exec would."""
        for item in items[:MAX_ITEMS]:
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
            state = call.state.fork(outer=call.text)
            sub = Call(argv, state, call.depth, None, [], [], (*call.via, via))
            if shell:
                self.code_string(join_args(argv), sub, via)
            else:
                self.dispatch(sub)

    def find(self, name: str, args: list[Arg], call: Call) -> None:
        texts = [a.text for a in args]
        roots = find_roots(texts)
        for k, t in enumerate(texts):
            if t in ("-exec", "-execdir", "-ok", "-okdir"):
                end = k + 1
                while end < len(texts) and texts[end] not in (";", "+"):
                    end += 1
                template = args[k + 1 : end]
                if template:  # {} stands for entries under each root
                    items = [Arg(os.path.join(r, "*")) for r in roots]
                    self.spawn(template, items, "{}", call, "find", shell=False)

    def interpreter(self, name: str, args: list[Arg], call: Call) -> None:
        # Imported here: most command lines run no interpreter.
        from llmos.security.shell_code import interpreter_args, language

        lang = language(name)
        codes, script, reads_stdin = interpreter_args(lang, args)
        if lang == "pwsh" and any(
            a.text.lower() in ("-encodedcommand", "-enc", "-e", "-ec") for a in args
        ):
            self.note("obfuscated-exec", f"{name} runs a base64-encoded command")
        if lang == "deno" and args and args[0].text == "run" and has_url(args[1:]):
            self.note("pipe-to-shell", "deno runs a script straight from the network")
        for code in codes:
            self.inline(lang, code, call)
        if script is not None:
            self.script_arg(script, call, name, lang)
        elif reads_stdin:
            self.code_source(call.stdin, lang, call, name)

    def inline(self, lang: str, code: Arg, call: Call) -> None:
        """An interpreter one-liner: keep it for the policy and analyse the shell it runs."""
        if self.tainted(code, lang):
            return
        from llmos.security.shell_code import embedded_shell

        call.code.append((lang, code.text))
        for snippet, fed in embedded_shell(lang, code.text):
            state = call.state.fork(outer=call.text)
            self.run(snippet, state, call.depth + 1, Source("unknown") if fed else None)


_HANDLERS: dict[str, Callable[[Analyzer, str, list[Arg], Call], None]] = {
    "source": Analyzer.source_builtin,
    ".": Analyzer.source_builtin,
    "eval": Analyzer.eval_builtin,
    "trap": Analyzer.trap_builtin,
    "cd": Analyzer.cd_builtin,
    "pushd": Analyzer.cd_builtin,
    "export": Analyzer.declare_builtin,
    "declare": Analyzer.declare_builtin,
    "typeset": Analyzer.declare_builtin,
    "local": Analyzer.declare_builtin,
    "readonly": Analyzer.declare_builtin,
    "unset": Analyzer.declare_builtin,
    "read": Analyzer.declare_builtin,
    "xargs": Analyzer.xargs,
    "parallel": Analyzer.parallel,
    "find": Analyzer.find,
}


# ------------------------------------------------------------------------------------- lexer
