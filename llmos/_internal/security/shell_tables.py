"""Tables of commands the shell analysis knows (shells, network tools, decoders, wrappers and
their options) and small helpers over expanded arguments."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from typing import Any

from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.shell_types import UNKNOWN, Arg, Source, SourceKind


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = words("sh bash zsh dash ksh mksh ash fish csh tcsh rbash yash posh busybox-sh")
# Interpreters whose programs `shell_code` reads (python -c, perl -e, awk, vim -c...).
INTERPRETER = LazyRegex(
    r"^(python[0-9.]*|pypy[0-9]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|bun|deno|php[0-9.]*|lua[0-9.]*"
    r"|luajit|Rscript|osascript|pwsh|powershell|awk|gawk|mawk|nawk|vim|vi|nvim|ex|view|tclsh|expect"
    r"|tsx|ts-node|zx)$"
)
NETWORK_TOOLS = words(
    "curl wget fetch aria2c http https xh lwp-request GET POST nc ncat netcat socat "
    "telnet openssl ssh"
)
_DECODE_FLAGS = {"base64": ("-d", "--decode", "-D"), "base32": ("-d", "--decode")}
_ALWAYS_DECODERS = words(
    "uudecode gunzip zcat gzcat bzcat xzcat zstdcat unxz bunzip2 unzstd rev tr"
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
unshare 0 --map-user --map-group -S --setuid -G --setgid -R --root -w --wd --propagation
  --map-users --map-groups
setpriv 0 --reuid --regid --ruid --euid --rgid --egid --groups --inh-caps --ambient-caps
  --bounding-set --securebits --selinux-label --apparmor-profile --landlock-access --landlock-rule
prlimit 0 --cpu --as --core --data --fsize --memlock --nofile --nproc --rss --stack
taskset 1
chrt 1
numactl 0 -i --interleave -m --membind -N --cpunodebind -C --physcpubind -p --preferred
cgexec 0 -g
systemd-run 0 -u --unit -p --property -E --setenv --description --slice --uid --gid --nice
  -M --machine -H --host --working-directory --service-type --on-active --on-boot
  --on-startup --on-unit-active --on-unit-inactive --on-calendar --timer-property
  --path-property --socket-property --slice-inherit
systemd-inhibit 0 --what --who --why --mode
dbus-run-session 0 --config-file --dbus-daemon
dbus-launch 0
pkexec 0 --user
ssh-agent 0 -a -E -t -P
npx 0 -p --package
pnpx 0
bunx 0 -p --package
gtimeout 1 -s -k --signal --kill-after
valgrind 0
ltrace 0 -o -e -p -s -u -E -a -n
tini 0
dumb-init 0
cpulimit 0 -l --limit -p --pid -e --exe
cross-env 0
env-cmd 0 -f --file -e --environments
dotenv 0 -e -c -v
firejail 0
sem 0 -j --jobs --id
sshpass 0 -p -f -d -e -P
distrobox-host-exec 0
host-spawn 0
flatpak-spawn 0 --env --directory --forward-fd --sandbox-expose --sandbox-expose-ro --unset-env
"""


def _table(text: str) -> list[list[str]]:
    """The rows of a table: one a line, an indented line continuing the one before."""
    rows: list[list[str]] = []
    for line in text.strip("\n").splitlines():
        if line.startswith(" ") and rows:
            rows[-1].extend(line.split())
        elif line.strip():
            rows.append(line.split())
    return rows


WRAPPERS = {name: (int(skip), frozenset(opts)) for name, skip, *opts in _table(_WRAPPER_TABLE)}
XARGS_VALUE = words(
    "-I -d -E -e -L -l -n -P -s -a --arg-file --delimiter --max-args --max-procs "
    "--max-lines --replace --eof --max-chars --process-slot-var"
)
PARALLEL_VALUE = words(
    "-j --jobs -S --sshlogin --joblog --results --delay --timeout --halt -a --arg-file "
    "--colsep -d --delimiter -n --max-args -N -L -P --tmpdir --workdir --env -E --retries "
    "--memfree"
)
MAX_ITEMS = 16

# Programs that run the rest of their arguments after a subcommand: `uv run pytest`,
# `bundle exec rake`, `direnv exec DIR cmd`. name: (subcommands, operands skipped, options
# that take a value).
_RUN_SUBCOMMAND_TABLE = """
uv run 0 --with --python -p --directory --project --package --extra --group --env-file
  --index-url --with-requirements
poetry run 0 -C --directory -P --project
pipenv run 0
pdm run 0 -p --project
hatch run 0 -e --env
rye run 0
pixi run 0 -e --environment --manifest-path
conda run 0 -n --name -p --prefix
mamba run 0 -n --name -p --prefix
micromamba run 0 -n --name -p --prefix
bundle exec 0
npm exec,x 0 -p --package -w --workspace
pnpm exec,dlx 0 --filter -F
yarn exec,dlx 0 -p --package
direnv exec 1
mise exec,x 0 --cd -C -E --env
asdf exec 0
rbenv exec 0
pyenv exec 0
nodenv exec 0
goenv exec 0
fnm exec 0 --using
nvm exec 1
op run 0 --env-file
aws-vault exec 1 -d --duration
doppler run 0 -p --project -c --config
infisical run 0 --env --path
perf record,stat,trace 0 -e --event -o --output -p --pid -F --freq -c --count
devbox run 0 -c --config
toolbox run 0 -c --container -r --release -d --distro
distrobox enter 1 -n --name
machinectl shell 1
lxc exec 1 --env --cwd --user --group
incus exec 1 --env --cwd --user --group
"""
RUN_SUBCOMMANDS = {
    name: (frozenset(subs.split(",")), int(skip), frozenset(opts))
    for name, subs, skip, *opts in _table(_RUN_SUBCOMMAND_TABLE)
}

# Options whose value is a command line that the program runs through a shell (or, "argv",
# whose value and the arguments after it are a program and its arguments).
_CODE_OPTION_TABLE = """
script shell -c --command
flock shell -c --command
runuser shell -c --command
sg shell -c
nix-shell shell --run --command
nodemon shell -x --exec
tar shell --to-command --use-compress-program -I --rsh-command
zip shell -TT --unzip-command
rsync shell -e --rsh --rsync-path
scp shell -S
sftp shell -S
man shell -P --pager
hyperfine shell -p --prepare -c --cleanup -s --setup --conclude
npx shell -c --call
npm shell -c --call
pnpm shell -c
gdb argv --args
rg shell --pre
xterm argv -e
uxterm argv -e
urxvt argv -e
rxvt argv -e
konsole argv -e
alacritty argv -e --command
x-terminal-emulator argv -e
terminator argv -x -e --execute --command
tilix argv -x -e --execute
st argv -e
foot argv
nix argv -c --command
"""
CODE_OPTIONS: dict[str, tuple[str, frozenset[str]]] = {
    name: (kind, frozenset(opts)) for name, kind, *opts in _table(_CODE_OPTION_TABLE)
}

# Environment variables whose value is a command that programs run (git, less, man, ssh,
# sudo, bash itself), or ("file") a script that bash reads at start-up.
COMMAND_VARIABLES = dict.fromkeys(
    "PAGER MANPAGER GIT_PAGER SYSTEMD_PAGER EDITOR VISUAL GIT_EDITOR GIT_SEQUENCE_EDITOR "
    "SUDO_EDITOR FCEDIT BROWSER GIT_SSH_COMMAND GIT_SSH GIT_EXTERNAL_DIFF GIT_ASKPASS SSH_ASKPASS "
    "SUDO_ASKPASS GIT_PROXY_COMMAND LESSOPEN LESSCLOSE PROMPT_COMMAND RSYNC_RSH "
    "RSYNC_CONNECT_PROG CVS_RSH".split(),
    "shell",
) | {"BASH_ENV": "file", "ENV": "file"}
TMUX_RUNS = words("new new-session new-window neww split-window splitw respawn-pane run-shell")


def skip_options(args: list[Arg], value_opts: frozenset[str], skip: int = 0) -> int:
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


def iter_nodes(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or []:
            yield from iter_nodes(child)
    for attr in ("command", "body"):
        child = getattr(node, attr, None)
        if child is not None and hasattr(child, "kind"):
            yield from iter_nodes(child)


def has_url(args: list[Arg]) -> bool:
    return any(re.match(r"https?://", a.text) for a in args)


def text_source(args: list[Arg], suffix: str = "") -> Source:
    taint = frozenset().union(*(a.taint for a in args))
    kind: SourceKind = (
        "network" if "network" in taint else "decoded" if "decoded" in taint else "text"
    )
    return Source(kind, " ".join(a.text for a in args) + suffix)


def quote_word(text: str) -> str:
    """`text` quoted for the shell, its run-time parts (`UNKNOWN`) kept unknown."""
    return f'"{UNKNOWN}"'.join(shlex.quote(p) if p else "" for p in text.split(UNKNOWN)) or "''"


def join_args(args: list[Arg]) -> Arg:
    return Arg(
        " ".join(a.text for a in args),
        frozenset().union(*(a.taint for a in args)),
        frozenset().union(*(a.variables for a in args)),
    )


def input_items(src: Source | None, delimiter: str | None) -> list[Arg]:
    """The items xargs/parallel read from `src`."""
    if src is None or src.kind in ("unknown", "file", "network", "decoded", "processes", "endless"):
        taint = frozenset({src.kind}) & {"network", "decoded", "processes"} if src else frozenset()
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


def is_decoder(name: str, texts: list[str]) -> bool:
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


def find_roots(texts: list[str]) -> list[str]:
    roots = []
    for t in texts:
        if t.startswith("-") or t in ("(", "!", ")"):
            break
        roots.append(t)
    return roots or ["."]


# ------------------------------------------------ process lists and endless output (kill-all,
# fork bombs): what a pipeline stage does to the lines it is given

# Processes whose end takes the machine or the user's session down with them.
CRITICAL = words(
    "init systemd sshd sshd-session login agetty getty Xorg Xwayland gnome-shell plasmashell "
    "kwin_x11 kwin_wayland gdm gdm3 lightdm sddm dbus-daemon systemd-logind launchd "
    "WindowServer loginwindow Finder kernel_task bash zsh sh fish dash"
)
_PROCESS_SELECTORS = words(
    "-p --pid -q --quick-pid -C --ppid --sid -s -t --tty -g -G --group --Group q p"
)
_MATCH_ALL = frozenset({".", ".*", "^", "", "^.*", ".+", "^.*$", "$", "*"})
_ENDLESS_FILES = frozenset({"/dev/zero", "/dev/urandom", "/dev/random"})
_LINE_TOOLS = words("cut tr sort uniq column cat tee rev nl paste fmt expand unexpand")


def matches_every_process(name: str, texts: list[str]) -> bool:
    """Whether pkill/pgrep/killall select every process: a pattern matching anything, an
    inverted match, or only a user (root's processes, or all of yours)."""
    # a helper of the rules, loaded with them
    from llmos._internal.security.rule_kit import positionals

    value_opts = "-s --signal -u --user -U -g -G -P -t -F -o -y --uid --euid --pidfile".split()
    patterns = positionals(texts, value_opts)
    if name == "killall":
        if "-r" in texts or "--regexp" in texts:
            return bool(_MATCH_ALL & set(patterns))
        by_user = any(t in ("-u", "--user") or t.startswith("--user=") for t in texts)
        return not patterns and (by_user or "-1" in texts)
    if bool(_MATCH_ALL & set(patterns)) or any(t in ("-v", "--inverse") for t in texts):
        return True
    selects_users = any(
        t in ("-u", "-U", "--uid", "--euid", "-t", "--terminal")
        or t.startswith(("-u", "-U", "--uid=", "--euid=", "--terminal="))
        for t in texts
    )
    return not patterns and (selects_users or "-1" in texts)


def lists_every_process(name: str, texts: list[str]) -> bool:
    """Whether a command prints the ids of every process (or all of yours), unfiltered."""
    if name == "ps":
        return not any(t in _PROCESS_SELECTORS or t.startswith(("--pid=", "-p")) for t in texts)
    if name in ("pgrep", "pidof"):
        names = {t.strip("^$") for t in texts if not t.startswith("-")}
        return (name == "pgrep" and matches_every_process(name, texts)) or bool(CRITICAL & names)
    return False


def passes_lines_through(name: str, texts: list[str]) -> bool:
    """Whether a pipeline stage keeps (nearly) every line it reads: it reshapes them, drops a
    header, or drops only what matches (grep -v), without choosing some."""
    if name in _LINE_TOOLS:
        return True
    if name in ("grep", "egrep", "fgrep"):
        return any(re.fullmatch(r"-\w*v\w*|--invert-match", t) for t in texts)
    if name == "tail":
        return any(re.fullmatch(r"(-n)?\s*\+\d+|--lines=\+\d+", t) for t in texts)
    if name in ("awk", "gawk", "mawk", "nawk"):
        program = next((t for t in texts if not t.startswith("-")), "")
        pattern = program.split("{", 1)[0].strip()
        return not pattern or re.fullmatch(r"NR\s*[><=!]+\s*\d+", pattern) is not None
    if name == "sed":
        script = " ".join(t for t in texts if not t.startswith("-"))
        return not re.search(r"(^|;)\s*(/|\\)", script) and "-n" not in texts
    return False


def endless_output(name: str, texts: list[str], stdin_kind: str) -> bool:
    """Whether a command writes without end: `yes`, a stream of /dev/zero or /dev/urandom,
    ``seq inf``, or a filter fed such a stream."""
    if name == "yes":
        return True
    if name == "head":
        return False
    if name == "seq":  # seq inf, or so many that it never ends in practice
        numbers = [t for t in texts if re.fullmatch(r"-?\d+(\.\d+)?|inf|infinity", t.lower())]
        last = numbers[-1].lower() if numbers else "0"
        return last in ("inf", "infinity") or float(last) >= 100_000
    if any(t in _ENDLESS_FILES for t in texts):
        return name not in ("head", "dd") or not any(
            t.startswith(("count=", "-c", "-n")) for t in texts
        )
    return stdin_kind == "endless" and (
        passes_lines_through(name, texts) or name in ("grep", "awk", "sed", "base64", "od", "xxd")
    )
