"""Programs that run commands given to them in a syntax of their own, as the analysis sees them:
every program that runs a command string is a shell, and that string is analysed.

- `make` (the recipes of the goals, from the Makefile this command or run wrote, or on disk,
  or on standard input), `npm`/`yarn`/`pnpm`/`bun` scripts (from package.json);
- `git`: ``-c alias.x='!cmd'`` and the other settings that hold a command, ``git config``
  setting one, ``rebase --exec``, ``bisect run``, ``submodule foreach``, ``filter-branch``,
  ``--upload-pack``;
- `tar` (``--checkpoint-action=exec=``, ``--to-command``, ``-I``, ``--info-script``), `ssh`
  (the remote command, ``ProxyCommand``), `scp`/`sftp`/`rsync` (their ``-e``/``-S`` command),
  containers (`docker`/`podman run|exec ... CMD`, `kubectl exec -- CMD`);
- database shells (`sqlite3` ``.shell``/``.system``, `psql` and `mysql` ``\\!``), `sed`'s
  ``e`` command and ``w`` file, `tmux send-keys`, `screen -X stuff`, `hyperfine`,
  `watchexec`, `entr`, `gdb -ex 'shell ...'`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.shell_tables import CODE_OPTIONS, join_args, quote_word, skip_options
from llmos._internal.security.shell_types import UNKNOWN, Arg, Call, Origin, State

if TYPE_CHECKING:
    from llmos._internal.security.shell_runners import Analyzer

Program = Callable[["Analyzer", str, list[Arg], Call], None]


def _texts(args: list[Arg]) -> list[str]:
    return [a.text for a in args]


def _shell(
    a: Analyzer, text: str, call: Call, what: str, taint: frozenset[str] = frozenset()
) -> None:
    a.code_string(Arg(text, taint), call, what)


def _option_values(args: list[Arg], *names: str) -> list[Arg]:
    """Values of the options `names` (``-o v``, ``-ov``, ``--opt v``, ``--opt=v``)."""
    out = []
    for k, arg in enumerate(args):
        t = arg.text
        for n in names:
            if t == n and k + 1 < len(args):
                out.append(args[k + 1])
            elif n.startswith("--") and t.startswith(n + "="):
                out.append(Arg(t[len(n) + 1 :], arg.taint))
            elif len(n) == 2 and t.startswith(n) and len(t) > 2 and not t.startswith("--"):
                out.append(Arg(t[2:], arg.taint))
    return out


# ------------------------------------------------------------------------------------ make

_MAKE_VALUE = frozenset(
    "-f --file --makefile -C --directory -j --jobs -l --load-average -o --old-file -W "
    "--what-if --new-file --assume-new -I --include-dir -E --eval -O --output-sync".split()
)
_MAKE_DRY = frozenset(
    "-n --just-print --dry-run --recon -q --question -p --print-data-base".split()
)
_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


def make(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """The recipes make would run, read from the Makefile (`makefiles`)."""
    texts = _texts(args)
    if any(t in _MAKE_DRY for t in texts) or "--help" in texts:
        return
    cwd = call.state.cwd
    for d in _option_values(args, "-C", "--directory"):
        if UNKNOWN not in d.text:
            cwd = os.path.normpath(os.path.join(cwd, d.text))
    overrides: dict[str, str] = {}
    goals: list[str] = []
    k = 0
    while k < len(texts):
        t = texts[k]
        if t in _MAKE_VALUE:
            k += 2
            continue
        if not t.startswith("-"):
            var = re.match(r"([A-Za-z_][\w.-]*)\s*:{0,2}=(.*)", t, re.S)
            if var:
                overrides[var.group(1)] = var.group(2)
            else:
                goals.append(t)
        k += 1
    sources: list[tuple[str, str | None, Origin]] = []  # (path shown, text, origin)
    given = [f.text for f in _option_values(args, "-f", "--file", "--makefile")]
    view = call.state.files
    for arg in _option_values(args, "-f", "--file", "--makefile"):
        if arg.source is not None and arg.source.kind == "text":  # make -f <(printf ...)
            sources.append(("the Makefile given by a substitution", arg.source.text, ""))
    for f in given or []:
        if f.startswith("/dev/fd/"):
            continue
        if f in ("-", "/dev/stdin"):
            stdin = call.stdin
            text = stdin.text if stdin is not None and stdin.kind == "text" else None
            if stdin is not None and stdin.kind in ("network", "decoded"):
                a.tainted(Arg("", frozenset({stdin.kind})), "make")
                return
            sources.append(("the Makefile on standard input", text, ""))
        elif view is not None and UNKNOWN not in f:
            known = view.read(a.locate(os.path.join(cwd, f), call.state))
            if known is not None:
                sources.append((f, known.text, known.origin))
    if not given and view is not None:
        for f in _MAKEFILES:
            known = view.read(a.locate(os.path.join(cwd, f), call.state))
            if known is not None:
                sources.append((f, known.text, known.origin))
                break
    evals = [e.text for e in _option_values(args, "-E", "--eval")]
    if evals and not sources:
        sources.append(("make --eval", "", ""))
    from llmos._internal.security.makefiles import Makefile  # only when make runs

    for shown, text, origin in sources:
        if text is None or (not text and not evals):
            continue
        makefile = Makefile("\n".join([text, *evals]), overrides)
        state = call.state.fork("make", outer=call.text)
        state.cwd = cwd
        state.script, state.origin = os.path.join(cwd, shown) if origin else shown, origin
        for line in makefile.commands(goals, _environment(state))[:200]:
            a.read_script(line, state.fork(), call.depth + 1, None)


def _environment(state: State) -> Callable[[str], str | None]:
    """Make reads the environment's variables (HOME...) as its own."""

    def environ(variable: str) -> str | None:
        value = state.env.get(variable)
        return value.text if value is not None else None

    return environ


def just(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """The recipes `just` would run, read from the justfile (`makefiles.just_commands`)."""
    texts = _texts(args)
    if any(t in ("--list", "-l", "--dry-run", "-n", "--summary", "--show", "-s") for t in texts):
        return
    given = [f.text for f in _option_values(args, "-f", "--justfile")]
    cwd = call.state.cwd
    names = given or ["justfile", "Justfile", ".justfile"]
    view = call.state.files
    goals = [t for t in texts if not t.startswith("-") and t not in given and "=" not in t]
    for f in names:
        if view is None or UNKNOWN in f:
            return
        path = a.locate(os.path.join(cwd, f), call.state)
        known = view.read(path)
        if known is None or known.text is None:
            continue
        from llmos._internal.security.makefiles import just_commands

        state = call.state.fork("just", outer=call.text)
        state.script, state.origin = path, known.origin
        for line in just_commands(known.text, goals, _environment(state))[:200]:
            a.read_script(line, state.fork(), call.depth + 1, None)
        return


# ------------------------------------------------------------------ npm, yarn, pnpm, bun scripts

_INSTALL = (
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
)
_LIFECYCLE = {
    "install": _INSTALL, "i": _INSTALL, "ci": _INSTALL, "add": (), "isntall": _INSTALL,
    "test": ("pretest", "test", "posttest"), "t": ("pretest", "test", "posttest"),
    "tst": ("pretest", "test", "posttest"), "start": ("prestart", "start", "poststart"),
    "stop": ("prestop", "stop", "poststop"),
    "restart": ("prerestart", "prestop", "stop", "poststop", "prestart", "start", "poststart",
                "restart", "postrestart"),
    "pack": ("prepack", "prepare", "postpack"), "publish": ("prepublishOnly", "prepack",
                                                           "prepare", "postpack", "publish",
                                                           "postpublish"),
}  # fmt: skip
_NPM_VALUE = frozenset("--prefix -C --workspace -w --filter -F --cwd".split())
# yarn and pnpm run a script by its bare name when it is not one of their own commands.
_OWN_COMMANDS = frozenset(
    "add audit bin cache config create dedupe dlx exec info init install i link list ls login "
    "logout outdated pack publish rebuild remove rm unlink up update upgrade version why "
    "workspace workspaces import patch store env setup".split()
)


_BUN_FILE = LazyRegex(r".*\.(js|mjs|cjs|ts|tsx|jsx|mts|cts)$")


def package_scripts(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """`npm run X`, `npm test`, `npm install`, `yarn X`, `pnpm X`, `bun run X`: the scripts of
    package.json that run (with their pre and post scripts). bun also runs JavaScript itself
    (`bun -e CODE`, `bun x.ts`, `bun run x.ts`)."""
    texts = _texts(args)
    if name == "bun":
        program = args[1:] if texts[:1] == ["run"] else args
        if program and (program[0].text.startswith("-") or _BUN_FILE.match(program[0].text)):
            a.interpreter(name, program, call)
            return
    if name in CODE_OPTIONS:
        a.option_code(name, args, call)
    k = skip_options(args, _NPM_VALUE)
    sub = texts[k] if k < len(texts) else ("install" if name in ("yarn", "pnpm", "bun") else "")
    rest = [t for t in texts[k + 1 :] if not t.startswith("-")]
    if sub in ("run", "run-script", "rum", "urn") and rest:
        wanted: tuple[str, ...] = (f"pre{rest[0]}", rest[0], f"post{rest[0]}")
    elif sub in _LIFECYCLE and not (sub in ("install", "i", "add") and rest):
        wanted = _LIFECYCLE[sub]
    elif name in ("yarn", "pnpm", "bun") and sub and sub not in _OWN_COMMANDS:
        wanted = (f"pre{sub}", sub, f"post{sub}")
    else:
        return
    cwd = call.state.cwd
    for prefix in _option_values(args, "--prefix", "-C", "--cwd"):
        if UNKNOWN not in prefix.text:
            cwd = os.path.normpath(os.path.join(cwd, prefix.text))
    path = a.locate(os.path.join(cwd, "package.json"), call.state)
    known = call.state.files.read(path) if call.state.files is not None else None
    if known is None or known.text is None:
        return
    try:
        scripts = json.loads(known.text).get("scripts") or {}
    except (ValueError, AttributeError):
        return
    if not isinstance(scripts, dict):
        return
    state = call.state.fork(name, outer=call.text)
    state.cwd, state.script, state.origin = os.path.dirname(path), path, known.origin
    for script in wanted:
        text = scripts.get(script)
        if isinstance(text, str) and text.strip():
            a.read_script(text, state.fork(), call.depth + 1, None)


# --------------------------------------------------------------------------------------- git

_GIT_GLOBAL_VALUE = frozenset(
    "-C -c --git-dir --work-tree --namespace --exec-path --config-env".split()
)
_GIT_COMMAND_KEYS = LazyRegex(
    r"(core\.(sshcommand|pager|editor|fsmonitor|askpass|gitproxy)|sequence\.editor|diff\.external"
    r"|diff\..*\.(textconv|command)|filter\..*\.(clean|smudge|process)|merge\..*\.driver"
    r"|gpg\.(\w+\.)?program|uploadpack\.packobjectshook|pager\..*|credential\.(.*\.)?helper"
    r"|alias\..*)$",
    re.IGNORECASE,
)
_GIT_FILTERS = frozenset(
    "--env-filter --tree-filter --index-filter --parent-filter --msg-filter --commit-filter "
    "--tag-name-filter".split()
)


def git_setting(
    a: Analyzer, key: str, value: Arg, call: Call, rest: list[Arg] | None = None
) -> None:
    """A git setting that holds a command (`alias.x=!cmd`, `core.pager`, `core.fsmonitor`...):
    the command it runs."""
    if not _GIT_COMMAND_KEYS.match(key):
        return
    text = value.text.strip()
    lowered = key.lower()
    if lowered.startswith("alias."):
        if text.startswith("!"):
            _shell(a, text[1:], call, f"git alias {key[6:]}", value.taint)
        elif rest is not None:  # an alias of git arguments: git <value> <rest>
            try:
                argv = [Arg("git"), *(Arg(w, value.taint) for w in shlex.split(text)), *rest]
            except ValueError:
                return
            a.dispatch(a.sub_call(argv, call, f"git alias {key[6:]}"))
        return
    if lowered.startswith("credential.") and not text.startswith("!"):
        return  # a helper by name (store, cache, osxkeychain): git-credential-<name>
    if lowered == "core.fsmonitor" and text.lower() in ("true", "false", ""):
        return
    if lowered.startswith("pager.") and text.lower() in ("true", "false", ""):
        return
    _shell(a, text.lstrip("!"), call, f"git {key}", value.taint)


def git(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    texts = _texts(args)
    settings: list[tuple[str, Arg]] = []
    k = 0
    while k < len(texts) and texts[k].startswith("-"):
        opt, eq, _ = texts[k].partition("=")
        if opt == "-c" and not eq and k + 1 < len(texts):
            key, _, val = texts[k + 1].partition("=")
            settings.append((key, Arg(val, args[k + 1].taint)))
        k += 2 if opt in _GIT_GLOBAL_VALUE and not eq else 1
    sub, rest = (texts[k] if k < len(texts) else ""), args[k + 1 :]
    aliased = {key[6:]: value for key, value in settings if key.lower().startswith("alias.")}
    for key, value in settings:
        if not key.lower().startswith("alias."):
            git_setting(a, key, value, call)
    if sub in aliased:
        git_setting(a, f"alias.{sub}", aliased[sub], call, rest)
        return
    rest_texts = _texts(rest)
    if sub == "config":
        operands = [t for t in rest_texts if not t.startswith("-")]
        values = [r for r in rest if not r.text.startswith("-")]
        if len(operands) >= 2 and not any(
            t.startswith(("--get", "--unset", "-l", "--list")) for t in rest_texts
        ):
            git_setting(a, operands[0], values[1], call)
    elif sub == "rebase":
        for value in _option_values(rest, "--exec", "-x"):
            _shell(a, value.text, call, "git rebase --exec", value.taint)
    elif sub == "bisect" and rest_texts[:1] == ["run"] and len(rest) > 1:
        a.dispatch(a.sub_call(rest[1:], call, "git bisect run"))
    elif sub == "submodule" and "foreach" in rest_texts:
        after = rest[rest_texts.index("foreach") + 1 :]
        after = [r for r in after if r.text not in ("--recursive", "-q", "--quiet")]
        if after:
            a.code_string(join_args(after), call, "git submodule foreach")
    elif sub == "filter-branch":
        for k2, t in enumerate(rest_texts[:-1]):
            if t in _GIT_FILTERS:
                _shell(a, rest[k2 + 1].text, call, f"git filter-branch {t}", rest[k2 + 1].taint)
    elif sub == "difftool":
        for value in _option_values(rest, "-x", "--extcmd"):
            _shell(a, value.text, call, "git difftool --extcmd", value.taint)
    for value in _option_values(rest, "--upload-pack", "--receive-pack", "--exec"):
        if sub in ("clone", "fetch", "pull", "ls-remote", "push", "archive"):
            _shell(a, value.text, call, f"git {sub} {value.text}", value.taint)
    if sub == "clone":
        for value in _option_values(rest, "-u"):
            _shell(a, value.text, call, "git clone -u", value.taint)


# ------------------------------------------------------------------------------------- tar


def tar(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    a.option_code(name, args, call)
    for action in _option_values(args, "--checkpoint-action"):
        m = re.match(r"(exec|execute)[=:](.*)", action.text, re.S)
        if m:
            _shell(a, m.group(2), call, "tar --checkpoint-action", action.taint)
    for script in _option_values(args, "-F", "--info-script", "--new-volume-script"):
        a.script_arg(script, call, "tar --info-script", None)


# ------------------------------------------------------------------- ssh, scp, sftp, rsync

_SSH_VALUE = frozenset("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B".split())
_LOCAL_COMMANDS = LazyRegex(
    r"(?i)^(proxycommand|localcommand|remotecommand|knownhostscommand)\s*[= ]\s*(.*)$", re.S
)


def _ssh_options(a: Analyzer, args: list[Arg], call: Call, what: str) -> None:
    for value in _option_values(args, "-o"):
        m = _LOCAL_COMMANDS.match(value.text)
        if m:
            command = re.sub(r"%[hprnuCdlL%]", "x", m.group(2))
            _shell(a, command, call, f"{what} -o {m.group(1)}", value.taint)


def ssh(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """ssh HOST COMMAND: the remote command is analysed like a local one (it runs as you,
    elsewhere); ProxyCommand and LocalCommand run here."""
    _ssh_options(a, args, call, name)
    k = skip_options(args, _SSH_VALUE)
    remote = args[k + 1 :]
    if remote:
        host = f"{name} {args[k].text}"
        a.code_string(join_args(remote), call, host, remote=host)


def copy_remote(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    a.option_code(name, args, call)
    _ssh_options(a, args, call, name)


# ------------------------------------------------------------------------------ containers

_CONTAINER_VALUE = frozenset(
    "-a --attach -c --cpu-shares --cidfile --cpus --cpuset-cpus --device --dns --entrypoint "
    "-e --env --env-file --expose --gpus -h --hostname --health-cmd --ip --ipc -l --label "
    "--log-driver --log-opt -m --memory --mount --name --network --net --pid -p --publish "
    "--platform --pull --restart --runtime --security-opt --shm-size --stop-signal "
    "--stop-timeout --tmpfs --ulimit -u --user --userns --uts -v --volume --volumes-from -w "
    "--workdir --cap-add --cap-drop --add-host --group-add --isolation --label-file "
    "--mac-address --memory-swap --network-alias --oom-score-adj --sysctl --annotation "
    "--detach-keys --health-interval --health-retries --health-timeout --cgroupns --cgroup-parent "
    "-f --file -p --project-name --profile".split()
)


def container(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """`docker run IMAGE CMD...`, `docker exec CONTAINER CMD...`, `docker compose run SERVICE
    CMD...`, `kubectl exec POD -- CMD...`: the command run inside is analysed like a local
    one, with the container's mounts of host folders mapped back to them."""
    texts = _texts(args)
    if name == "kubectl":
        if texts[:1] in (["exec"], ["run"], ["debug"]) and "--" in texts:
            inner = args[texts.index("--") + 1 :]
            if inner:
                sub_call = a.sub_call(inner, call, "kubectl")
                sub_call.state.remote = "kubectl " + texts[0]
                a.dispatch(sub_call)
        return
    k = skip_options(args, _CONTAINER_VALUE)
    if texts[k : k + 1] in (["compose"], ["container"]):
        k = k + 1 + skip_options(args[k + 1 :], _CONTAINER_VALUE)
    sub = texts[k] if k < len(texts) else ""
    if sub not in ("run", "exec", "create"):
        return
    rest = args[k + 1 :]
    i = skip_options(rest, _CONTAINER_VALUE)
    inner = rest[i + 1 :]  # after the image, container or service
    for health in _option_values(rest[:i], "--health-cmd"):
        _shell(a, health.text, call, f"{name} --health-cmd", health.taint)
    entry = _option_values(rest[:i], "--entrypoint")
    if entry:
        inner = [entry[-1], *inner]
    if not inner:
        return
    mounts = []
    for volume in _option_values(rest[:i], "-v", "--volume"):
        host, _, inside = volume.text.partition(":")
        inside = inside.split(":")[0]
        if host and inside.startswith("/") and UNKNOWN not in host:
            mounts.append(
                (inside.rstrip("/") or "/", os.path.normpath(os.path.join(call.state.cwd, host)))
            )
    sub_call = a.sub_call([_mapped(arg, mounts) for arg in inner], call, f"{name} {sub}")
    sub_call.state.remote = f"{name} {sub}"
    workdir = _option_values(rest[:i], "-w", "--workdir")
    if workdir:
        mapped = _mapped(workdir[-1], mounts).text
        if mapped != workdir[-1].text:
            sub_call.state.cwd = mapped
    a.dispatch(sub_call)


def _mapped(arg: Arg, mounts: list[tuple[str, str]]) -> Arg:
    for inside, host in mounts:
        if arg.text == inside or arg.text.startswith(inside + "/"):
            return Arg(host + arg.text[len(inside) :], arg.taint, arg.variables)
    return arg


# ------------------------------------------------------------------------ database shells

_SQLITE_SHELL = LazyRegex(
    r"^\s*\.(?:shell|system)\s+(.*)$|^\s*\.(?:output|once|import|read)\s+['\"]?\|(.*?)['\"]?(?:\s+\w+)?\s*$",
    re.M,
)
_PSQL_SHELL = LazyRegex(
    r"\\!\s*(.*)$|\\(?:o|out|g|gx)\s+\|\s*(.*)$|FROM\s+PROGRAM\s+'([^']*)'", re.M | re.I
)
_MYSQL_SHELL = LazyRegex(r"(?:^|;)\s*(?:system|\\!)\s+(.*?)(?:;|$)", re.M | re.I)


def _meta_commands(a: Analyzer, pattern: LazyRegex, text: str, call: Call, what: str) -> None:
    for m in pattern.finditer(text):
        command = next((g for g in m.groups() if g), "")
        if command.strip():
            _shell(a, command, call, what)
        if what == "sqlite3":  # dot-commands take quoted arguments: read them unquoted too
            with contextlib.suppress(ValueError):
                unquoted = " ".join(shlex.split(command))
                if unquoted != command and unquoted.strip():
                    _shell(a, unquoted, call, what)


def database_shell(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """sqlite3 ``.shell``/``.system``/``.once |cmd``, psql ``\\!`` and ``\\o |cmd``, mysql
    ``system``/``\\!``: commands in the arguments or on standard input."""
    pattern = {"sqlite3": _SQLITE_SHELL, "psql": _PSQL_SHELL}.get(name, _MYSQL_SHELL)
    if name == "sqlite3":
        texts = [a_.text for a_ in args if not a_.text.startswith("-")][1:]
        texts += [v.text for v in _option_values(args, "-cmd")]
    elif name == "psql":
        texts = [v.text for v in _option_values(args, "-c", "--command")]
    else:
        texts = [v.text for v in _option_values(args, "-e", "--execute")]
    stdin = call.stdin
    if stdin is not None and stdin.kind == "text":
        texts.append(stdin.text)
    for text in texts:
        _meta_commands(a, pattern, text, call, name)


# ------------------------------------------------------------------------- sed, tmux, ...

_SED_EXEC = LazyRegex(
    r"(?:^|[;\n{}])\s*(?:\d+|\$|/[^/\n]*/)?(?:,\s*(?:\d+|\$|/[^/\n]*/))?\s*!?\s*e\s+([^;\n}]+)"
)
_SED_WRITE = LazyRegex(
    r"(?:^|[;\n{}])\s*(?:\d+|\$|/[^/\n]*/)?(?:,\s*(?:\d+|\$|/[^/\n]*/))?\s*[wW]\s+([^;\n}]+)"
)
_SED_SUBST = LazyRegex(r"s(.)((?:\\.|(?!\1).)*)\1((?:\\.|(?!\1).)*)\1([gpiIme0-9]*)(w\s+\S+)?")


def sed(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """GNU sed's ``e`` command and ``s///e`` run shell commands; ``w FILE`` writes a file."""
    texts = _texts(args)
    scripts = [v.text for v in _option_values(args, "-e", "--expression")]
    if not scripts:
        operands = [t for t in texts if not t.startswith("-")]
        scripts = operands[:1]
    for script in scripts:
        for m in _SED_EXEC.finditer(script):
            _shell(a, m.group(1), call, "sed e")
        for m in _SED_SUBST.finditer(script):
            if "e" in m.group(4):
                _shell(a, m.group(3), call, "sed s///e")
            if m.group(5):
                _shell(a, f": >> {quote_word(m.group(5)[1:].strip())}", call, "sed w")
        for m in _SED_WRITE.finditer(script):
            target = m.group(1).strip()
            if target not in ("/dev/stdout", "/dev/stderr"):
                _shell(a, f": >> {quote_word(target)}", call, "sed w")


_TMUX_KEYS = LazyRegex(
    r"^(Enter|C-[a-zA-Z]|M-\w|Escape|Tab|Space|BSpace|Up|Down|Left|Right|KP\w*)$"
)


def tmux(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``tmux send-keys 'cmd' Enter`` types a command into a shell."""
    texts = _texts(args)
    if not texts or texts[0] not in ("send-keys", "send", "send-key"):
        return
    k = skip_options(args[1:], frozenset({"-t", "-N"})) + 1
    typed = [t for t in texts[k:] if not _TMUX_KEYS.match(t)]
    if typed:
        _shell(a, " ".join(typed), call, "tmux send-keys")


def screen(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``screen -X stuff 'cmd\\n'`` types a command into a shell."""
    texts = _texts(args)
    if "stuff" in texts and texts.index("stuff") + 1 < len(texts):
        typed = texts[texts.index("stuff") + 1].replace("^M", "\n").replace("\\n", "\n")
        _shell(a, typed, call, "screen stuff")


def shell_positionals(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """hyperfine, watchexec, entr -s: their operands are shell command lines."""
    if name in CODE_OPTIONS:
        a.option_code(name, args, call)
    texts = _texts(args)
    if name == "entr":
        operands = [r for r in args if not r.text.startswith("-")]
        if "-s" in texts and operands:
            a.code_string(operands[0], call, "entr -s")
        elif operands:
            a.dispatch(a.sub_call(operands, call, "entr"))
        return
    value_opts = {
        "hyperfine": "-p --prepare -c --cleanup -s --setup --conclude -w --warmup -r --runs -m "
        "--min-runs -M --max-runs --export-json --export-markdown --export-csv -n --command-name "
        "-L --parameter-list -P --parameter-scan -S --shell",
        "watchexec": "-e --exts -w --watch -i --ignore -d --debounce -s --signal --stop-signal "
        "--stop-timeout --delay-run -f --filter -E --env --shell --project-origin --workdir",
    }[name]
    if "--" in texts:
        inner = args[texts.index("--") + 1 :]
        if inner:
            a.dispatch(a.sub_call(inner, call, name))
        return
    k = skip_options(args, frozenset(value_opts.split()))
    for command in args[k:] if name == "hyperfine" else [join_args(args[k:])] if args[k:] else []:
        a.code_string(command, call, name)


def gdb(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``gdb -ex 'shell cmd'`` (or ``!cmd``), and ``--args program ...``."""
    a.option_code(name, args, call)
    for value in _option_values(args, "-ex", "--eval-command", "-iex", "--init-eval-command"):
        m = re.match(r"\s*(?:shell|!)\s*(.*)$", value.text, re.S)
        if m:
            _shell(a, m.group(1), call, "gdb shell", value.taint)
        elif re.match(r"\s*(python|py|pi)\s", value.text):
            a.inline("python", Arg(value.text.split(None, 1)[1], value.taint), call)


# Programs that run a program file in a language the policy does not read: a file written in
# this run given to them is asked about. name -> the subcommand that runs a file ("" : none).
_OPAQUE_RUNNERS = {
    "go": "run", "java": "", "jshell": "", "julia": "", "swift": "", "elixir": "", "escript": "",
    "racket": "", "guile": "", "sbcl": "", "clisp": "", "ecl": "", "runghc": "", "runhaskell": "",
    "crystal": "run", "dart": "run", "kotlin": "", "kotlinc": "", "scala": "", "scala-cli": "run",
    "groovy": "", "jbang": "", "raku": "", "perl6": "", "zig": "run", "v": "run", "nim": "r",
    "rust-script": "", "dotnet": "fsi", "fsi": "", "csi": "", "octave": "", "matlab": "",
    "ocaml": "",
    "erl": "", "clojure": "", "clj": "", "bb": "", "nu": "", "xonsh": "", "elvish": "",
}  # fmt: skip


def opaque_program(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``go run x.go``, ``julia x.jl``...: a file written in this run given to a program whose
    language the policy cannot read is asked about (a file already there is not)."""
    sub = _OPAQUE_RUNNERS[name]
    operands = [r for r in args if not r.text.startswith("-")]
    if sub:
        if not operands or operands[0].text != sub:
            return
        operands = operands[1:]
    view = call.state.files
    for arg in operands[:4]:
        if view is None or UNKNOWN in arg.text:
            continue
        known = view.read(a.locate(arg.text, call.state))
        if known is not None and known.origin == "written":
            a.unreadable(
                arg.text, f"a program {name} runs, which the policy cannot read", "", "written"
            )
            return


_ELISP_CALLS = LazyRegex(
    r"\((?:shell-command(?:-to-string)?|async-shell-command|call-process-shell-command)\s+\"((?:[^\"\\]|\\.)*)\""
    r"|\((?:delete-directory|delete-file)\s+\"((?:[^\"\\]|\\.)*)\""
)


def emacs(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``emacs --batch --eval '(shell-command "...")'``: the shell commands and deletions of
    the Lisp given to it."""
    for value in _option_values(args, "--eval", "-eval", "--execute"):
        for m in _ELISP_CALLS.finditer(value.text):
            if m.group(1) is not None:
                _shell(a, m.group(1).replace('\\"', '"'), call, "emacs shell-command")
            else:
                _shell(a, f"rm -rf -- {quote_word(m.group(2))}", call, "emacs delete")


def fd(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``fd PATTERN PATH -x cmd``: the command runs on every entry found, as find -exec."""
    texts = _texts(args)
    value_opts = frozenset(
        "-e --extension -t --type -d --max-depth -E --exclude -j --threads "
        "-S --size --changed-within --changed-before -o --owner".split()
    )
    for k, t in enumerate(texts):
        if t in ("-x", "--exec", "-X", "--exec-batch"):
            template = args[k + 1 :]
            before = args[:k]
            operands = [r.text for r in before[skip_options(before, value_opts) :]]
            operands = [o for o in operands if not o.startswith("-")]
            roots = operands[1:] or ["."]
            items = [Arg(os.path.join(r, "*")) for r in roots]
            end = next((j for j, r in enumerate(template) if r.text == ";"), len(template))
            if template[:end]:
                a.spawn(template[:end], items, "{}", call, "fd", shell=False)
            return


def cmake(a: Analyzer, name: str, args: list[Arg], call: Call) -> None:
    """``cmake -E rm -rf PATH``, ``cmake -E remove_directory PATH``, ``cmake -E chdir DIR
    cmd...``: cmake's command mode, read as the commands it stands for."""
    texts = _texts(args)
    if "-E" not in texts:
        return
    rest = args[texts.index("-E") + 1 :]
    verb = rest[0].text if rest else ""
    operands = rest[1:]
    if verb in ("rm", "remove", "remove_directory", "rmdir"):
        paths = [r for r in operands if not r.text.startswith("-")]
        a.dispatch(a.sub_call([Arg("rm"), Arg("-rf"), Arg("--"), *paths], call, "cmake -E"))
    elif verb in ("copy", "copy_directory", "copy_if_different", "rename", "create_symlink"):
        cmd = {"rename": "mv", "create_symlink": "ln"}.get(verb, "cp")
        flags = [Arg("-s")] if verb == "create_symlink" else [Arg("-r")] if cmd == "cp" else []
        a.dispatch(a.sub_call([Arg(cmd), *flags, *operands], call, "cmake -E"))
    elif verb in ("touch", "make_directory"):
        a.dispatch(
            a.sub_call([Arg("touch" if verb == "touch" else "mkdir"), *operands], call, "cmake -E")
        )
    elif verb in ("chdir", "env", "time") and operands:
        inner = operands[1:] if verb == "chdir" else operands
        while inner and ("=" in inner[0].text or inner[0].text.startswith("-")) and verb == "env":
            inner = inner[1:]
        if inner:
            sub = a.sub_call(inner, call, "cmake -E")
            if verb == "chdir" and UNKNOWN not in operands[0].text:
                sub.state.cwd = os.path.normpath(os.path.join(call.state.cwd, operands[0].text))
            a.dispatch(sub)


PROGRAMS: dict[str, Program] = {
    "make": make,
    "just": just,
    "gmake": make,
    "npm": package_scripts,
    "yarn": package_scripts,
    "pnpm": package_scripts,
    "bun": package_scripts,
    "git": git,
    "tar": tar,
    "ssh": ssh,
    "autossh": ssh,
    "scp": copy_remote,
    "sftp": copy_remote,
    "rsync": copy_remote,
    "docker": container,
    "podman": container,
    "nerdctl": container,
    "kubectl": container,
    "sqlite3": database_shell,
    "psql": database_shell,
    "mysql": database_shell,
    "mariadb": database_shell,
    "sed": sed,
    "tmux": tmux,
    "hyperfine": shell_positionals,
    "watchexec": shell_positionals,
    "entr": shell_positionals,
    "gdb": gdb,
    "emacs": emacs,
    "fd": fd,
    "fdfind": fd,
    "cmake": cmake,
    **dict.fromkeys(_OPAQUE_RUNNERS, opaque_program),
}
