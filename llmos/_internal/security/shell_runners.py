"""Commands that run other code, as the analysis sees them: wrappers (`sudo`, `env`, `timeout`,
`su -c`, `watch`, `uv run`...), shells and `-c` strings, `eval`, `source`, `trap`, `xargs`,
`parallel`, `find -exec`, options whose value is a command (`script -c`, `tar --to-command`,
`rsync -e`...), variables that hold one (`PAGER`, `LESSOPEN`, `GIT_SSH_COMMAND`...),
interpreter one-liners (`shell_code`), and the files a command runs: scripts (``sh x.sh``,
``./x.sh``, ``source x.sh``, ``python3 x.py``), read from what this command or run wrote, or
from disk (`run_files`). Programs with a syntax of their own (make, npm, git, ssh, docker...)
are in `shell_programs`. Each nested program is analysed in turn, depth-limited.

Also what the shell itself keeps between commands: aliases, namerefs (``declare -n``), and
symbolic links made earlier in the command (``ln -s ~ link``), which later paths go through."""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable

from llmos._internal.security.shell_tables import (
    CODE_OPTIONS,
    COMMAND_VARIABLES,
    INTERPRETER,
    MAX_ITEMS,
    PARALLEL_VALUE,
    RUN_SUBCOMMANDS,
    SHELLS,
    TMUX_RUNS,
    WRAPPERS,
    XARGS_VALUE,
    find_roots,
    has_url,
    input_items,
    join_args,
    quote_word,
    skip_options,
)
from llmos._internal.security.shell_types import (
    UNKNOWN,
    Arg,
    Call,
    Finding,
    Origin,
    ShellAnalysisError,
    Source,
    State,
    Val,
    resolve_path,
)
from llmos._internal.security.shell_walker import Handler, Walker


class Analyzer(Walker):
    """The walker plus what it knows about commands that run other code."""

    MAX_FILES = 12  # scripts read per command
    SCRIPT_BUDGET = 3000  # tree nodes walked per script

    def __init__(self, home: str, max_depth: int) -> None:
        super().__init__(home, max_depth)
        self.files_read = 0

    def handler(self, name: str) -> Handler | None:
        found = _HANDLERS.get(name)
        if found is None:
            from llmos._internal.security.shell_programs import PROGRAMS  # most commands need none

            found = PROGRAMS.get(name)
        if found is None and name in SHELLS:
            found = Analyzer.shell
        elif found is None and INTERPRETER.match(name):
            found = Analyzer.interpreter
        elif found is None and name in CODE_OPTIONS:
            found = Analyzer.code_options
        return functools.partial(found, self) if found is not None else None

    # -- wrappers ------------------------------------------------------------------------

    def unwrap(self, name: str, args: list[Arg], call: Call) -> list[Arg] | None:
        """The wrapped command's argv if `name` is a wrapper ([] when it wraps nothing)."""
        texts = [a.text for a in args]
        if name in CODE_OPTIONS and name in WRAPPERS and self.option_code(name, args, call):
            return []  # flock -c 'cmd', runuser -c 'cmd': the option's command is what runs
        if name in RUN_SUBCOMMANDS:
            return self.unwrap_subcommand(name, args)
        if name == "systemd-run":
            self.systemd_run(args)
        if name in WRAPPERS:
            skip, value_opts = WRAPPERS[name]
            i = skip_options(args, value_opts, skip)
            if name == "command" and any(t in ("-v", "-V") for t in texts[:i]):
                return None
            shell_flag = any(re.fullmatch(r"-\w*[si]\w*|--shell|--login", t) for t in texts[:i])
            if name == "sudo" and shell_flag:
                if i >= len(args):
                    return [Arg("bash")]
                # sudo -s CMD: the command is given to the shell as a -c string
                self.code_string(join_args(args[i:]), call, "sudo -s")
                return []
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
        if name == "screen" and "stuff" in texts:
            from llmos._internal.security.shell_programs import screen

            screen(self, name, args, call)
            return []
        if name == "bwrap":
            return _after_bwrap_options(args)
        if name == "capsh" and "--" in texts:  # capsh [options] -- bash arguments
            return [Arg("bash"), *args[texts.index("--") + 1 :]]
        if name == "ip" and texts[:1] in (["netns"], ["vrf"]) and texts[1:2] == ["exec"]:
            return args[3:] or None  # ip netns exec NAME cmd...
        if name == "sg" and len(args) >= 2 and not texts[0].startswith("-"):
            if texts[1] == "-c" and len(args) > 2:
                self.code_string(args[2], call, "sg -c")
            else:
                self.code_string(join_args(args[1:]), call, "sg")
            return []
        return None

    def unwrap_subcommand(self, name: str, args: list[Arg]) -> list[Arg] | None:
        """`uv run cmd`, `bundle exec cmd`, `direnv exec DIR cmd`...: the command they run."""
        subs, skip, value_opts = RUN_SUBCOMMANDS[name]
        k = skip_options(args, value_opts)
        if k >= len(args) or args[k].text not in subs:
            return None
        rest = args[k + 1 :]
        i = skip_options(rest, value_opts, skip)
        if i < len(rest) and rest[i].text == "--":
            i += 1
        return rest[i:] or None

    def systemd_run(self, args: list[Arg]) -> None:
        timers = [a.text for a in args if a.text.startswith(("--on-", "--timer-property"))]
        if timers:
            self.note("persistence", f"systemd-run {timers[0]} schedules a command to run later")

    def option_code(self, name: str, args: list[Arg], call: Call) -> bool:
        """Options whose value is a command (`script -c CMD`, `tar --to-command=CMD`,
        `rsync -e CMD`, `xterm -e cmd args`): analyse it. Whether there was one."""
        kind, options = CODE_OPTIONS[name]
        found = False
        k = 0
        while k < len(args):
            text = args[k].text
            opt, eq, value = text.partition("=")
            if opt in options and (eq or k + 1 < len(args)):
                found = True
                arg = Arg(value, args[k].taint) if eq else args[k + 1]
                if kind == "argv":  # xterm -e cmd args...: the rest is the command
                    rest = [arg, *args[k + 1 :]] if eq else args[k + 1 :]
                    self.dispatch(self.sub_call(rest, call, f"{name} {opt}"))
                    return True
                self.code_string(arg, call, f"{name} {opt}")
                k += 1 if eq else 2
                continue
            short = re.fullmatch(r"-[A-Za-z]*([A-Za-z])", text)
            clustered = short and f"-{short.group(1)}" in options and len(text) > 2
            if clustered and kind == "shell" and k + 1 < len(args):  # script -qc CMD
                found = True
                self.code_string(args[k + 1], call, f"{name} {text}")
                k += 2
                continue
            k += 1
        return found

    def code_options(self, name: str, args: list[Arg], call: Call) -> None:
        self.option_code(name, args, call)

    def sub_call(self, argv: list[Arg], call: Call, via: str) -> Call:
        """A command run by `call` with its own arguments (a program's own command)."""
        state = call.state.fork(outer=call.text)
        sub = Call(argv, state, call.depth + 1, None, [], [], (*call.via, via))
        sub.text = call.text
        return sub

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
                if t in ("-S", "--split-string"):  # read as the shell would: a superset of env's
                    rest = [Arg(quote_word(a.text), a.taint) for a in args[i + 2 :]]
                    self.code_string(join_args([value, *rest]), call, "env -S")
                    return []
                i += 2
            elif t.startswith("-") and t != "-":
                i += 1
            elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t):
                name, _, value_text = t.partition("=")
                call.state = call.state.fork()
                call.state.env[name] = Val(value_text, args[i].taint)
                call.assignments.append((name, value_text))
                self.assigned(name, Arg(value_text, args[i].taint), call.state, call.depth)
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
        elif src.kind == "file":
            self.run_file(Arg(src.text), [], call, what, lang)
        elif src.kind == "endless":
            pass  # `yes | sh`: the same line again and again, read as it is
        else:
            self.note("pipe-to-shell", f"{what} runs text produced by another command")

    def code_string(
        self, arg: Arg, call: Call, what: str, *, same_shell: bool = False, remote: str = ""
    ) -> None:
        """A ``-c``/``eval`` string: check where it came from, then parse it as shell (in the
        same shell for ``eval``: what it sets stays set)."""
        if self.tainted(arg, what):
            return
        if same_shell:
            state = call.state.inside(what, outer=call.text)
            state.via = (*call.via, what)
            self.run(arg.text, state, call.depth + 1, call.stdin)
            call.state.cwd = state.cwd
            return
        state = call.state.fork(outer=call.text)
        state.via = (*call.via, what)
        state.remote = remote or state.remote
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
            self.script_arg(rest[0], call, name, "shell", rest[1:])
        else:
            self.code_source(call.stdin, "shell", call, name)

    def script_arg(
        self,
        arg: Arg,
        call: Call,
        what: str,
        lang: str | None,
        argv: list[Arg] | None = None,
        *,
        same_shell: bool = False,
    ) -> None:
        if arg.source is not None:
            self.code_source(arg.source, lang or "shell", call, what)
        elif self.tainted(arg, what):
            return
        elif (
            UNKNOWN not in arg.text
            and resolve_path(arg.text, call.state.cwd) in call.state.downloads
        ):
            self.note("pipe-to-shell", f"{what} runs {arg.text}, downloaded in this command")
        else:
            self.run_file(arg, argv or [], call, what, lang, same_shell=same_shell)

    def executable(self, program: Arg, args: list[Arg], call: Call) -> None:
        self.script_arg(program, call, program.text, None, args)

    def source_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if args:
            self.script_arg(args[0], call, name, "shell", args[1:], same_shell=True)

    def eval_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if args:
            self.code_string(join_args(args), call, "eval", same_shell=True)

    # -- files a command runs -------------------------------------------------------------

    def locate(self, text: str, state: State) -> str:
        """Absolute path of `text`, through symlinks on disk and those made in this command."""
        path = resolve_path(text, state.cwd)
        for _ in range(8):
            hop = next(
                (
                    (link, dest)
                    for link, dest in state.links.items()
                    if path == link or path.startswith(link + "/")
                ),
                None,
            )
            if hop is None or UNKNOWN in hop[1]:
                return path
            path = os.path.realpath(hop[1] + path[len(hop[0]) :])
        return path

    def run_file(
        self,
        arg: Arg,
        argv: list[Arg],
        call: Call,
        what: str,
        lang: str | None,
        *,
        same_shell: bool = False,
    ) -> None:
        """A file run as a program (a script given to a shell or an interpreter, or run by
        its path): judge what it does, if its text is known (`run_files`)."""
        if not arg.text or UNKNOWN in arg.text or call.state.files is None:
            return
        path = self.locate(arg.text, call.state)
        if path in call.state.scripts:
            self.note("fork-bomb", f"{arg.text} runs itself, without end")
            return
        if lang not in (None, "shell", "python") and not call.state.files.remembers(path):
            return  # a file already on disk in a language only read when written in the run
        known = call.state.files.read(path)
        if known is None or known.text is None or self.files_read >= self.MAX_FILES:
            return
        self.files_read += 1
        from llmos._internal.security.shell_code import script_language  # only when a script runs

        lang = lang or script_language(known.text, path)
        if known.origin == "disk" and lang not in ("shell", "python"):
            return
        state = (
            call.state.inside(what, outer=call.text)
            if same_shell
            else call.state.fork(what, outer=call.text)
        )
        state.script, state.origin, state.scripts = path, known.origin, state.scripts | {path}
        if lang == "shell":
            if not same_shell or argv:
                for k in range(1, 10):
                    state.env.pop(str(k), None)
                state.env["0"] = Val(arg.text)
                for k, a in enumerate(argv[:9], start=1):
                    state.env[str(k)] = Val(a.text, a.taint)
            self.read_script(known.text, state, call.depth + 1, None)
            if same_shell:
                call.state.cwd = state.cwd
            return
        self.read_program(lang, known.text, state, call)

    def read_script(self, text: str, state: State, depth: int, stdin: Source | None) -> None:
        """Walk a script's text with a budget of its own; one that cannot be read is noted
        for the policy (asked about if it was written in this run)."""
        saved, self.budget = self.budget, self.SCRIPT_BUDGET
        first = len(self.result.events)
        try:
            self.run(text, state, depth, stdin)
        except ShellAnalysisError as exc:
            self.unreadable(state.script, str(exc), text, state.origin)
        finally:
            self.budget = saved - 1
        events = self.result.events
        for k in range(first, len(events)):  # findings say which script they were seen in
            found = events[k]
            if isinstance(found, Finding) and not found.script and state.script:
                events[k] = found._replace(script=state.script, origin=found.origin or state.origin)

    def unreadable(self, path: str, why: str, text: str, origin: Origin) -> None:
        self.result.events.append(Finding("unreadable-script", f"{path}: {why}", text, origin))

    def read_program(self, lang: str, text: str, state: State, call: Call) -> None:
        """A script in another language: Python by its parser; Node, Perl, Ruby, PHP, Lua,
        Tcl and awk programs written in this run by the one-liner readers (whole programs
        already on disk are beyond what patterns read well); any other language written in
        this run is asked about."""
        from llmos._internal.security.shell_code import embedded_shell

        readable = lang == "python" or (
            lang in ("node", "deno", "perl", "ruby", "php", "lua", "tcl", "awk")
            and state.origin == "written"
        )
        if not readable:
            if state.origin == "written":
                self.unreadable(
                    state.script, f"a {lang} program the policy cannot read", "", "written"
                )
            return
        if lang == "python":
            from llmos._internal.security.shell_python import python_effects

            effects = python_effects(text)
            if effects is None:
                if state.origin == "written":
                    self.unreadable(state.script, "not valid Python", "", "written")
                return
        else:
            effects = embedded_shell(lang, text)
        if state.origin == "written":
            call.code.append((lang, text))  # the one-liner patterns (sockets, fork loops...)
        for snippet, fed in effects:
            self.read_script(
                snippet, state.fork(), call.depth + 1, Source("unknown") if fed else None
            )

    def trap_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        if len(args) >= 2 and not args[0].text.startswith("-"):
            self.code_string(args[0], call, "trap")

    def cd_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        targets = [a.text for a in args if not a.text.startswith("-")]
        target = targets[0] if targets else self.home
        if UNKNOWN not in target:
            call.state.cwd = os.path.normpath(os.path.join(call.state.cwd, target))

    def declare_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        options = "".join(a.text[1:] for a in args if a.text.startswith("-"))
        for a in args:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", a.text, re.S)
            if m and "n" in options and name != "export":
                call.state.refs[m.group(1)] = m.group(2)  # declare -n ref=VAR
            elif m:
                variable = call.state.variable(m.group(1))
                call.state.env[variable] = Val(m.group(2), a.taint)
                self.assigned(variable, Arg(m.group(2), a.taint), call.state, call.depth)
        if name == "unset":
            for a in args:
                if not a.text.startswith("-"):
                    call.state.env[a.text] = Val("")
        if name == "read":
            names = [a.text for a in args if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a.text)]
            stdin = call.stdin
            taint = frozenset({stdin.kind}) & {"processes", "network", "decoded"} if stdin else None
            line = stdin.text.split("\n", 1)[0] if stdin and stdin.kind == "text" else None
            words = line.split(None, len(names) - 1) if line is not None and names else []
            for k, variable in enumerate(names):
                known = words[k] if k < len(words) else ("" if line is not None else UNKNOWN)
                call.state.env[variable] = Val(known, taint or frozenset())

    def assigned(self, name: str, value: Arg, state: State, depth: int) -> None:
        """A variable that holds a command (PAGER, LESSOPEN, GIT_SSH_COMMAND, PROMPT_COMMAND)
        or a start-up script (BASH_ENV): what it runs, once set, is analysed."""
        kind = COMMAND_VARIABLES.get(name)
        if kind is None or not value.text.strip():
            return
        what = f"${name}"
        if self.tainted(value, what):
            return
        call = Call([Arg(name)], state, depth, None, [], [], state.via)
        call.text = f"{name}={value.text}"
        if kind == "file":
            self.script_arg(value, call, what, "shell")
            return
        command = re.sub(r"^[|\s-]+", "", value.text).replace("%s", "FILE")
        self.code_string(Arg(command, value.taint), call, what)

    def set_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        """``set -- a b``: the positional parameters."""
        texts = [a.text for a in args]
        if "--" not in texts:
            return
        values = args[texts.index("--") + 1 :]
        for k in range(1, 10):
            call.state.env.pop(str(k), None)
        for k, a in enumerate(values[:9], start=1):
            call.state.env[str(k)] = Val(a.text, a.taint)

    def printf_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        """``printf -v VAR FORMAT ARGS``: sets a variable, as an assignment would."""
        from llmos._internal.security.shell_words import printf_text

        texts = [a.text for a in args]
        if len(texts) >= 3 and texts[0] == "-v":
            taint = frozenset().union(*(a.taint for a in args[2:]))
            call.state.env[call.state.variable(texts[1])] = Val(printf_text(texts[2:]), taint)

    def alias_builtin(self, name: str, args: list[Arg], call: Call) -> None:
        for a in args:
            key, eq, value = a.text.partition("=")
            if name == "unalias":
                if key == "-a":
                    call.state.aliases.clear()
                call.state.aliases.pop(key, None)
            elif eq and re.fullmatch(r"[^\s/$`=\\'\"]+", key):
                call.state.aliases[key] = value

    def link(self, name: str, args: list[Arg], call: Call) -> None:
        """``ln [-s] TARGET LINK``: later paths through LINK lead to TARGET."""
        from llmos._internal.security.rule_kit import flag, option_values, positionals

        texts = [a.text for a in args]
        symbolic = flag(texts, "s", "--symbolic")
        into = option_values(tuple(texts), "-t", "--target-directory")
        operands = positionals(texts, ["-t", "--target-directory", "-S", "--suffix"])
        no_deref = flag(texts, "n", "--no-dereference") or flag(texts, "T", "--no-target-directory")
        cwd = call.state.cwd
        if into:
            pairs = [(t, os.path.join(into[0], os.path.basename(t))) for t in operands]
        elif len(operands) == 1:
            pairs = [(operands[0], os.path.basename(operands[0].rstrip("/")))]
        elif len(operands) == 2:
            target, link = operands
            place = os.path.join(cwd, link)
            # os.path's tests: a command's word may be any text, and on some (a name too long)
            # Path's raise where these say False.
            if not no_deref and os.path.isdir(place) and not os.path.islink(place):  # noqa: PTH112, PTH114
                link = os.path.join(link, os.path.basename(target.rstrip("/")))
            pairs = [(target, link)]
        else:
            pairs = [(t, os.path.join(operands[-1], os.path.basename(t))) for t in operands[:-1]]
        for target, link in pairs:
            if UNKNOWN in link or not link:
                continue
            where = os.path.join(cwd, link)
            where = os.path.join(os.path.realpath(os.path.dirname(where)), os.path.basename(where))
            base = os.path.dirname(where) if symbolic else cwd
            dest = (
                target if UNKNOWN in target else self.locate(os.path.join(base, target), call.state)
            )
            call.state.links[where] = dest

    def copy_text(self, name: str, args: list[Arg], call: Call) -> None:
        """cp, mv, install and tee carry a file's text to another: a script copied, then run."""
        files = call.state.files
        if files is None:
            return
        from llmos._internal.security.rule_kit import positionals

        texts = [a.text for a in args]
        if name == "tee":
            text = call.stdin.text if call.stdin and call.stdin.kind == "text" else None
            append = any(re.fullmatch(r"-\w*a\w*|--append", t) for t in texts)
            for t in positionals(texts):
                if UNKNOWN not in t and not t.startswith("/dev/"):
                    files.write(resolve_path(t, call.state.cwd), text, append=append)
            return
        operands = positionals(
            texts, ["-t", "--target-directory", "-m", "--mode", "-S", "-o", "-g"]
        )
        if len(operands) != 2 or any(UNKNOWN in o for o in operands):
            return
        source, dest = (self.locate(o, call.state) for o in operands)
        if os.path.isdir(dest):  # noqa: PTH112 -- os.path's test, as in `link`
            dest = os.path.join(dest, os.path.basename(source))
        known = files.read(source)
        files.write(dest, known.text if known is not None else None)

    def xargs(self, name: str, args: list[Arg], call: Call) -> None:
        replace: str | None = None
        i, delimiter = 0, None
        stdin, procs = call.stdin, "1"
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
            elif t in ("-a", "--arg-file") and i + 1 < len(args):
                stdin = self.file_source(args[i + 1], call)
            elif t.startswith("--arg-file="):
                stdin = self.file_source(Arg(t.split("=", 1)[1]), call)
            elif t in ("-P", "--max-procs") and i + 1 < len(args):
                procs = args[i + 1].text
            elif t.startswith(("-P", "--max-procs=")):
                procs = t.split("=", 1)[1] if "=" in t else t[2:]
            i += 2 if t in XARGS_VALUE else 1
        template = args[i:] or [Arg("echo")]
        if _unbounded(procs) and stdin is not None and stdin.kind == "endless":
            self.note("fork-bomb", "xargs starts processes without limit, fed without end")
        items = input_items(stdin, "\n" if replace else delimiter)
        self.spawn(template, items, replace, call, "xargs", shell=False)

    def file_source(self, arg: Arg, call: Call) -> Source:
        """What a command reads from the file `arg` names (xargs -a FILE, or <(...))."""
        if arg.source is not None:
            return arg.source
        if UNKNOWN in arg.text or call.state.files is None:
            return Source("unknown")
        path = self.locate(arg.text, call.state)
        if path in ("/dev/zero", "/dev/urandom", "/dev/random"):
            return Source("endless")
        known = call.state.files.read(path)
        if known is not None and known.text is not None:
            return Source("text", known.text)
        return Source("file", path)

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
            if call.stdin is not None and call.stdin.kind == "endless":
                texts = [a.text for a in args[:i]]
                jobs = next(
                    (texts[k + 1] for k, t in enumerate(texts[:-1]) if t in ("-j", "--jobs", "-P")),
                    "",
                )
                jobs = jobs or next(
                    (t[2:] for t in texts if t.startswith(("-j", "-P")) and len(t) > 2), ""
                )
                if _unbounded(jobs) or jobs.endswith("%"):
                    self.note(
                        "fork-bomb", "parallel starts processes without limit, fed without end"
                    )
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
        # {} stands for the entries under each root, named as the -name tests say
        names = [texts[k + 1] for k, t in enumerate(texts[:-1]) if t in ("-name", "-iname")]
        leaf = names[0] if len(names) == 1 and "/" not in names[0] else "*"
        for k, t in enumerate(texts):
            if t in ("-exec", "-execdir", "-ok", "-okdir"):
                end = k + 1
                while end < len(texts) and texts[end] not in (";", "+"):
                    end += 1
                template = args[k + 1 : end]
                if template:
                    below = "*" if leaf == "*" else os.path.join("*", leaf)
                    items = [Arg(os.path.join(r, below)) for r in roots]
                    self.spawn(template, items, "{}", call, "find", shell=False)

    def interpreter(self, name: str, args: list[Arg], call: Call) -> None:
        # Imported here: most command lines run no interpreter.
        from llmos._internal.security.shell_code import interpreter_args, language

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
            at = next((k for k, a in enumerate(args) if a is script), None)
            self.script_arg(script, call, name, lang, args[at + 1 :] if at is not None else [])
        elif reads_stdin:
            self.code_source(call.stdin, lang, call, name)
        if lang == "perl":
            self.perl_in_place(args, call)

    def perl_in_place(self, args: list[Arg], call: Call) -> None:
        """``perl -pi -e CODE FILES``: the files are rewritten in place."""
        texts = [a.text for a in args]
        if not any(re.fullmatch(r"-\w*i\S*", t) for t in texts):
            return
        files, k = [], 0
        while k < len(texts):
            t = texts[k]
            if t in ("-M", "-I", "-m") or re.fullmatch(r"-\w*[eE]", t):  # -pe CODE
                k += 2
                continue
            if not t.startswith("-"):
                files.append(t)
            k += 1
        for f in files:
            self.run(
                f": >> {quote_word(f)}",
                call.state.fork("perl -i", outer=call.text),
                call.depth + 1,
                None,
            )

    def inline(self, lang: str, code: Arg, call: Call) -> None:
        """An interpreter one-liner: keep it for the policy and analyse the shell it runs."""
        if self.tainted(code, lang):
            return
        from llmos._internal.security.shell_code import embedded_shell

        call.code.append((lang, code.text))
        for snippet, fed in embedded_shell(lang, code.text):
            state = call.state.fork(outer=call.text)
            self.run(snippet, state, call.depth + 1, Source("unknown") if fed else None)


_BWRAP_TWO = frozenset(
    "--bind --ro-bind --dev-bind --bind-try --ro-bind-try --dev-bind-try --symlink --setenv "
    "--file --bind-data --ro-bind-data --chmod".split()
)
_BWRAP_ONE = frozenset(
    "--dev --proc --tmpfs --dir --mqueue --chdir --unsetenv --uid --gid --hostname --remount-ro "
    "--args --userns --userns2 --pidns --lock-file --sync-fd --info-fd --json-status-fd "
    "--block-fd --userns-block-fd --seccomp --add-seccomp-fd --exec-label --file-label "
    "--cap-add --cap-drop --perms --size --argv0".split()
)


def _after_bwrap_options(args: list[Arg]) -> list[Arg] | None:
    k = 0
    while k < len(args) and args[k].text.startswith("--"):
        t = args[k].text
        if t == "--":
            k += 1
            break
        k += 3 if t in _BWRAP_TWO else 2 if t in _BWRAP_ONE else 1
    return args[k:] or None


def _unbounded(procs: str) -> bool:
    """xargs -P / parallel -j: 0 means as many processes at once as there are inputs."""
    return procs.strip() == "0" or (procs.isdigit() and int(procs) >= 64)


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
    "printf": Analyzer.printf_builtin,
    "set": Analyzer.set_builtin,
    "alias": Analyzer.alias_builtin,
    "unalias": Analyzer.alias_builtin,
    "ln": Analyzer.link,
    "cp": Analyzer.copy_text,
    "mv": Analyzer.copy_text,
    "install": Analyzer.copy_text,
    "tee": Analyzer.copy_text,
}


# ------------------------------------------------------------------------------------- lexer
